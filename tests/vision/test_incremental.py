"""Incremental inference equals the full forward pass on the same occluded images, whatever the
box, the window it is padded to, the pool layout and the kernel size."""

import pytest
import torch

from nnscope.model import CNNConfig
from nnscope.vision.incremental import IncrementalCNN
from vision.test_occlusion import digit_like_images, random_model


def random_boxes(count: int, largest: int, generator: torch.Generator) -> torch.Tensor:
    """Boxes (count, 4) = (top, bottom, left, right), half-open, of 1..largest pixels, corners included."""
    h = torch.randint(1, largest + 1, (count,), generator=generator)
    w = torch.randint(1, largest + 1, (count,), generator=generator)
    top = (torch.rand(count, generator=generator) * (29 - h)).long()
    left = (torch.rand(count, generator=generator) * (29 - w)).long()
    top[:4] = torch.tensor([0, 0, 28, 28]) - torch.tensor([0, 0, 1, 1]) * h[:4]  # the four corners
    left[:4] = torch.tensor([0, 28, 0, 28]) - torch.tensor([0, 1, 0, 1]) * w[:4]
    return torch.stack([top, top + h, left, left + w], 1)


@pytest.mark.parametrize("config", [
    CNNConfig(channels=(6, 8, 12)),  # the shipped layout: pools after blocks 1 and 2
    CNNConfig(channels=(4, 6, 8, 10), pool_after=(True, False, True, False)),
    CNNConfig(channels=(4, 6, 8), kernel_size=5, pool_after=(False, True, True)),
    CNNConfig(channels=(4, 6, 8), pool_after=(True, True, True)),  # 7 -> 3 drops a row and a column
])
@pytest.mark.parametrize("fill", [0.0, 0.7])
@pytest.mark.parametrize("positive_scales", [False, True])  # True: batch norm folds into the conv
def test_incremental_equals_full_forward(config, fill, positive_scales):
    model = random_model(11, config)
    if positive_scales:
        for i in range(1, len(config.channels) + 1):
            getattr(model, f"bn{i}").weight.data.abs_()
    images = digit_like_images(3, seed=5)
    generator = torch.Generator().manual_seed(len(config.channels))
    boxes = random_boxes(60, 9, generator)
    image = torch.randint(0, 3, (60,), generator=generator)
    engine = IncrementalCNN(model)
    base = engine.base(images)
    size = (int((boxes[:, 1] - boxes[:, 0]).max()) + 2, int((boxes[:, 3] - boxes[:, 2]).max()))  # padded window
    incremental = engine.logits(base, image, boxes, fill, size)
    occluded = images[image].clone()
    for b, (top, bottom, left, right) in enumerate(boxes.tolist()):
        occluded[b, :, top:bottom, left:right] = fill
    with torch.no_grad():
        full = model(occluded)
    assert (incremental - full).abs().max() < 1e-4  # logits of size ~10: float32 rounding only
    assert (incremental - full).abs().max() < 1e-5 * full.abs().max() * 10


def test_unoccluded_base_equals_model():
    model = random_model(2)
    images = digit_like_images(4, seed=1)
    engine = IncrementalCNN(model)
    with torch.no_grad():
        assert torch.allclose(engine.head(engine.base(images)[-1]), model(images), atol=1e-5)
