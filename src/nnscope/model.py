"""The CNN (modules named conv1, conv2, conv3, ...) and its checkpoints.

Contract used by every analysis: input float (N, 1, 28, 28), pixels in [0, 1] with 0 = black
background as in MNIST; output logits (N, 10). Normalisation happens inside the model.
"""

import pickle
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from nnscope.errors import NnscopeError
from nnscope.fileio import atomic_write, versions
from nnscope.paths import DEFAULT_CHECKPOINT

CHECKPOINT_FORMAT = "nnscope-cnn"
CHECKPOINT_VERSION = 1
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel statistics of the MNIST training set, in [0, 1] units


@dataclass(frozen=True)
class CNNConfig:
    """Shape of the network; saved in every checkpoint so it can be rebuilt."""

    channels: tuple[int, ...] = (16, 32, 64)  # output channels of conv1, conv2, conv3, ...
    kernel_size: int = 3  # square kernels, 'same' padding so a block keeps its height and width
    # 2x2 max pool right after each conv (28 -> 14 -> 7 -> 7): pooling before batch norm and ReLU
    # gives the same result for a positive batch-norm scale and makes them 4x cheaper
    pool_after: tuple[bool, ...] = (True, True, False)
    classes: int = 10

    def __post_init__(self):
        if len(self.channels) < 3 or len(self.pool_after) != len(self.channels):
            raise NnscopeError(
                f"model config: {len(self.channels)} conv layers and {len(self.pool_after)} pool flags; "
                "expected at least 3 conv layers and one pool flag per layer"
            )


class CNN(nn.Module):
    """conv -> (2x2 max pool) -> batch norm -> ReLU blocks, then one linear layer `fc` to the logits."""

    def __init__(self, config: CNNConfig = CNNConfig()):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(MNIST_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(MNIST_STD), persistent=False)
        in_channels, side = 1, 28
        for i, (out_channels, pool) in enumerate(zip(config.channels, config.pool_after), start=1):
            # bias is redundant before batch norm, which adds its own shift
            conv = nn.Conv2d(in_channels, out_channels, config.kernel_size, padding=config.kernel_size // 2, bias=False)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", nn.BatchNorm2d(out_channels))
            in_channels, side = out_channels, side // 2 if pool else side
        self.fc = nn.Linear(in_channels * side * side, config.classes)

    @property
    def conv_layer_names(self) -> list[str]:
        """['conv1', 'conv2', ...] in forward order."""
        return [f"conv{i}" for i in range(1, len(self.config.channels) + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) in [0, 1] -> (N, 10)
        return self.forward_with_activations(x)[0]

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and, per block, the raw conv output (`conv3`, full size) and the block output
        after pooling, batch norm and ReLU (`relu3`, the input of the next block)."""
        activations = {}
        x = (x - self.mean) / self.std  # (N, 1, 28, 28)
        for i, pool in enumerate(self.config.pool_after, start=1):
            x = getattr(self, f"conv{i}")(x)  # (N, C_i, H, W)
            activations[f"conv{i}"] = x
            if pool:
                x = nn.functional.max_pool2d(x, 2)  # (N, C_i, H/2, W/2)
            x = torch.relu(getattr(self, f"bn{i}")(x))
            activations[f"relu{i}"] = x
        return self.fc(x.flatten(1)), activations


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in the model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_checkpoint(path: str | Path, model: CNN, *, train_config: dict, metrics: dict, seed: int) -> Path:
    """Write weights, configs, metrics, seed and library versions to `path`, atomically."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_config": asdict(model.config),
        "train_config": train_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": metrics,
        "seed": seed,
        "versions": versions(),
    }
    return atomic_write(path, lambda f: torch.save(state, f))


def read_checkpoint(path: str | Path | None = None) -> dict:
    """The checkpoint's contents, checked; loaded with weights_only=True so no code can run."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.exists():
        raise NnscopeError(f"{path}: no such checkpoint; train one with 'nnscope train --checkpoint {path}'")
    if path.is_dir():
        raise NnscopeError(f"{path}: is a folder; expected a checkpoint file written by 'nnscope train'")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise NnscopeError(f"{path}: not a readable nnscope checkpoint ({reason}); retrain with 'nnscope train'") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise NnscopeError(f"{path}: not an nnscope checkpoint (no '{CHECKPOINT_FORMAT}' format tag); retrain with 'nnscope train'")
    if state.get("format_version") != CHECKPOINT_VERSION:
        raise NnscopeError(
            f"{path}: checkpoint format version {state.get('format_version')}, expected {CHECKPOINT_VERSION}; retrain"
        )
    return state


def model_from_checkpoint(state: dict, path: str | Path = "checkpoint") -> CNN:
    """Rebuild the CNN of a checkpoint dict and load its weights, in eval mode."""
    try:
        raw = state["model_config"]
        config = CNNConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        model = CNN(config)
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0][:120]
        raise NnscopeError(f"{path}: checkpoint weights do not fit its model config ({reason}); retrain") from None
    return model.eval()


def load_model(path: str | Path | None = None) -> CNN:
    """The trained CNN from `path` (default runs/mnist_cnn.pt), in eval mode, on the CPU."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    return model_from_checkpoint(read_checkpoint(path), path)
