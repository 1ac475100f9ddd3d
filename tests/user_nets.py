"""Small image classifiers as users write them, for the tests of `--model` (copied as a .py model file).

Every class builds with no arguments, so `nets.py:NAME` names it. Shapes are per image (C, H, W).
"""

import torch
from torch import nn


class Block(nn.Module):
    """A residual block: 3x3 conv (stride s) -> BN -> ReLU -> 3x3 conv -> BN, plus a strided 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        # the shortcut is defined first but runs last: forward order is not definition order
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.conv_a = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(c_out)
        self.conv_b = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn_b(self.conv_b(torch.relu(self.bn_a(self.conv_a(x)))))
        return torch.relu(y + self.shortcut(x))


class ResidualNet(nn.Module):
    """RGB input of any size (3 x 30 x 26 in the tests) -> 5 logits; global average pool before the head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)  # (8, H, W)
        self.layer1 = Block(8, 16, stride=2)  # (16, H/2, W/2)
        self.layer2 = Block(16, 16, stride=2)  # (16, H/4, W/4)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(torch.relu(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


class DilatedGroupedNet(nn.Module):
    """Grey 1 x 28 x 28 only: dilated, grouped and depthwise convs, overlapping max and average pools."""

    def __init__(self):
        super().__init__()
        self.dilated = nn.Conv2d(1, 8, 3, dilation=2, padding=2)  # (8, 28, 28)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)  # (8, 28, 28)
        self.pool = nn.MaxPool2d(3, stride=2)  # overlapping: (8, 13, 13)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)  # (8, 13, 13)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1)  # overlapping: (8, 7, 7)
        self.head = nn.Linear(8 * 7 * 7, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.grouped(torch.relu(self.dilated(x)))))
        x = self.avg(torch.relu(self.depthwise(x)))
        return self.head(x.flatten(1))


class VGGStyle(nn.Module):
    """RGB 3 x 32 x 32 only: two conv-conv-pool stages as `features.N`, then `classifier.N`."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # (16, 8, 8)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class OutOfOrder(nn.Module):
    """Convs defined as late, early, middle but run early -> middle -> late; grey input of any size."""

    def __init__(self):
        super().__init__()
        self.late = nn.Conv2d(6, 3, 3, padding=1)
        self.early = nn.Conv2d(1, 4, 3, padding=1)
        self.middle = nn.Conv2d(4, 6, 1)
        self.out = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.late(self.middle(self.early(x))).amax(dim=(2, 3)))


def make_vgg() -> nn.Module:
    """A factory function, as some users write them."""
    return VGGStyle()


class FeatureMapNet(nn.Module):
    """Breaks the contract: returns (N, K, 1, 1) instead of (N, K)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 28)

    def forward(self, x):
        return self.conv(x)


class TupleNet(nn.Module):
    """Breaks the contract: returns (logits, features)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 3)

    def forward(self, x):
        return self.fc(x.flatten(1)), x


instance = OutOfOrder()  # a module instance, not a callable that builds one
NOT_A_MODEL = 42  # neither a callable nor a module


def returns_a_number():
    """A callable that builds no module."""
    return 7


def write_image_folder(root, names, per_class: int):
    """An ImageFolder tree root/<name>/<i>.png of 3 x 30 x 26 RGB images, `per_class` a class: channel k of class k
    is 255, the others random below 154 (seeded). Returns root."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        (Path(root) / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((30, 26, 3)) * 153).astype(np.uint8)
            pixels[:, :, k] = 255
            Image.fromarray(pixels).save(Path(root) / name / f"{i}.png")
    return Path(root)
