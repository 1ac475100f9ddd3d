"""The CNN (modules named conv1, conv2, conv3, ...) and its checkpoints.

Contract used by every analysis: input float (N, 1, 28, 28), pixels in [0, 1] with 0 = black
background as in MNIST; output logits (N, 10). Normalisation happens inside the model.
"""

import hashlib
import pickle
import warnings
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from nnscope.archives import check_archive, first_sentence, torch_load_defect
from nnscope.errors import NnscopeError
from nnscope.fileio import atomic_write, note_input, versions
from nnscope.outputs import check_output_file
from nnscope.paths import DEFAULT_CHECKPOINT

CHECKPOINT_FORMAT = "nnscope-cnn"
CHECKPOINT_VERSION = 2  # 2: the weights' sha256 is stored and checked; version 1 (no checksum) still loads
READABLE_VERSIONS = (1, 2)
MAX_CHANNELS = 1024  # per conv layer: the analyses hold (N, C, 28, 28) activations in memory
MAX_CONV_LAYERS = 8
MAX_KERNEL_SIZE = 27  # odd, so 'same' padding keeps 28 x 28; 27 is the widest a 28-pixel image can use
MAX_POOLS = 4  # 28 -> 14 -> 7 -> 3 -> 1: a fifth pool would leave no pixel for fc
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
        for name in ("channels", "pool_after"):  # lists (as JSON and asdict give them) are read as tuples
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
        if not isinstance(self.channels, tuple) or not all(whole(c) and 1 <= c <= MAX_CHANNELS for c in self.channels):
            raise NnscopeError(f"model config: channels {_text(self.channels)}; expected a list of whole numbers "
                               f"from 1 to {MAX_CHANNELS}")
        if not isinstance(self.pool_after, tuple) or not all(isinstance(p, bool) for p in self.pool_after):
            raise NnscopeError(f"model config: pool_after {_text(self.pool_after)}; expected a list of true/false")
        if not 3 <= len(self.channels) <= MAX_CONV_LAYERS or len(self.pool_after) != len(self.channels):
            raise NnscopeError(
                f"model config: {len(self.channels)} conv layers and {len(self.pool_after)} pool flags; "
                f"expected at least 3 conv layers (at most {MAX_CONV_LAYERS}) and one pool flag per layer"
            )
        if sum(self.pool_after) > MAX_POOLS:
            raise NnscopeError(f"model config: {sum(self.pool_after)} pooled layers; expected at most {MAX_POOLS}, "
                               "since each halves the 28-pixel side")
        if not whole(self.kernel_size) or self.kernel_size % 2 == 0 or not 1 <= self.kernel_size <= MAX_KERNEL_SIZE:
            raise NnscopeError(f"model config: kernel_size {_text(self.kernel_size)}; expected an odd whole number "
                               f"from 1 to {MAX_KERNEL_SIZE}")
        if not whole(self.classes) or self.classes != 10:
            raise NnscopeError(f"model config: classes {_text(self.classes)}; expected 10 (the digits 0-9 "
                               "every analysis names)")


def _text(value) -> str:
    """A config value as the user would read it in the file, shortened."""
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 60 else text[:57] + "..."


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
            setattr(self, f"relu{i}", nn.ReLU())  # a module, so that hooks can read and edit the block output
            in_channels, side = out_channels, side // 2 if pool else side
        self.fc = nn.Linear(in_channels * side * side, config.classes)

    @property
    def block_outputs(self) -> dict[str, str]:
        """Where a channel of each layer is silenced for the rest of the network: convN's and reluN's in reluN,
        the block output (zero there is zero for the next block)."""
        return {f"{kind}{i}": f"relu{i}" for i in range(1, len(self.config.channels) + 1) for kind in ("conv", "relu")}

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
            x = getattr(self, f"relu{i}")(getattr(self, f"bn{i}")(x))
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
    state["weights_sha256"] = weights_sha256(state["state_dict"])
    return atomic_write(path, lambda f: torch.save(state, f), ours=is_checkpoint, rewrites_input=True)


def is_checkpoint(path: Path) -> bool:
    """Whether `path` is a readable nnscope checkpoint: its format tag says nnscope wrote it."""
    try:
        read_checkpoint(path)
    except NnscopeError:
        return False
    return True


def weights_sha256(state_dict: dict) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order: changes if any weight does."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_checkpoint(path: str | Path | None = None) -> dict:
    """The checkpoint's contents, checked whole (format, checksum, config, every tensor's shape, finite
    values); loaded with weights_only=True so no code can run."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.exists():
        raise NnscopeError(f"{path}: no such checkpoint; train one with 'nnscope train --checkpoint {path}'")
    if path.is_dir():
        raise NnscopeError(f"{path}: is a folder; expected a checkpoint file written by 'nnscope train'")
    if not path.is_file():
        raise NnscopeError(f"{path}: not a regular file (a device, a pipe or a socket); "
                           "expected a checkpoint file written by 'nnscope train'")
    check_archive(path)  # CRCs: a format-1 checkpoint has no checksum of its own
    with open(path, "rb") as f:
        start = f.read(4)
    if start != b"PK\x03\x04":  # torch.save writes a zip archive; anything else is not ours
        raise NnscopeError(f"{path}: not a readable nnscope checkpoint (not a PyTorch zip archive: it starts with "
                           f"{start!r}); retrain with 'nnscope train'")
    try:
        with warnings.catch_warnings():  # torch's pickle and storage warnings are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError, UnicodeDecodeError,
            KeyError, AttributeError, TypeError, IndexError, OverflowError) as e:
        defect = torch_load_defect(path, e) or f"a damaged archive ({first_sentence(' '.join(str(e).split()))})"
        raise NnscopeError(f"{path}: not a readable nnscope checkpoint ({defect}); retrain with 'nnscope train'"
                           ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise NnscopeError(f"{path}: not an nnscope checkpoint (no '{CHECKPOINT_FORMAT}' format tag); retrain with 'nnscope train'")
    if state.get("format_version") not in READABLE_VERSIONS:
        raise NnscopeError(
            f"{path}: checkpoint format version {state.get('format_version')!r}, expected "
            f"{' or '.join(map(str, READABLE_VERSIONS))}; retrain"
        )
    check_checkpoint(state, path)
    return state


def check_checkpoint(state: dict, path: str | Path) -> None:
    """Refuse a checkpoint whose parts have the wrong types, whose weights changed since they were saved,
    or whose tensors do not fit its config or are not finite; the message names the first problem."""
    for key, kind in (("model_config", dict), ("train_config", dict), ("metrics", dict), ("state_dict", dict)):
        if not isinstance(state.get(key), kind):
            found = type(state.get(key)).__name__ if key in state else "nothing"
            raise NnscopeError(f"{path}: checkpoint field '{key}' is {found}, expected a {kind.__name__}; retrain")
    weights = state["state_dict"]
    bad = next((k for k, v in weights.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise NnscopeError(f"{path}: state_dict entry {bad!r} is not a named tensor; retrain")
    if state.get("format_version") != 1:  # version 1 was written before the checksum
        stored = state.get("weights_sha256")
        if not isinstance(stored, str):
            raise NnscopeError(f"{path}: no weights checksum (weights_sha256) in a version-2 checkpoint; retrain")
        if weights_sha256(weights) != stored:
            raise NnscopeError(f"{path}: the weights' sha256 differs from the one saved with them: the file is "
                               "corrupt or was edited; retrain with 'nnscope train'")
    config = config_from_dict(state["model_config"], path)
    with warnings.catch_warnings(), torch.device("meta"):  # shapes only: no memory, no random numbers
        warnings.simplefilter("ignore")
        expected = {k: v.shape for k, v in CNN(config).state_dict().items()}
    missing = next((k for k in expected if k not in weights), None)
    unexpected = next((k for k in weights if k not in expected), None)
    if missing or unexpected:
        what = f"missing '{missing}'" if missing else f"unexpected '{unexpected}'"
        raise NnscopeError(f"{path}: checkpoint weights do not fit its model config ({what} in the state_dict); retrain")
    for name, shape in expected.items():
        if weights[name].shape != shape:
            raise NnscopeError(f"{path}: checkpoint weights do not fit its model config ('{name}' has shape "
                               f"{tuple(weights[name].shape)}, expected {tuple(shape)}); retrain")
        if weights[name].is_floating_point() and not torch.isfinite(weights[name]).all():
            raise NnscopeError(f"{path}: '{name}' holds NaN or infinite values; expected finite weights; retrain")
        if name.endswith("running_var") and (weights[name] < 0).any():
            raise NnscopeError(f"{path}: '{name}' holds negative variances; expected values >= 0; retrain")


def config_from_dict(raw: dict, path: str | Path = "checkpoint") -> CNNConfig:
    """The CNNConfig of a checkpoint's model_config, checked (known keys, types and ranges)."""
    known = {f.name for f in fields(CNNConfig)}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise NnscopeError(f"{path}: unknown model_config field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
    try:
        return CNNConfig(**raw)
    except NnscopeError as e:
        raise NnscopeError(f"{path}: {e}; retrain") from None


def model_from_checkpoint(state: dict, path: str | Path = "checkpoint") -> CNN:
    """Rebuild the CNN of a checkpoint dict and load its weights (checked first), in eval mode."""
    check_checkpoint(state, path)
    model = CNN(config_from_dict(state["model_config"], path))
    model.load_state_dict(state["state_dict"])
    metrics = state.get("metrics")
    # e.g. 'fashion-mnist'; a checkpoint that does not say was trained on MNIST, as every one before the field was
    model.trained_on = (metrics.get("dataset") if isinstance(metrics, dict) else None) or "mnist"
    return model.eval()


def check_checkpoint_target(option: str, path: str | Path) -> None:
    """Before training: `path` can be written, and if a file is there it is a readable nnscope checkpoint,
    since nnscope never overwrites a file it did not write."""
    path = Path(path)
    if path.is_file():
        try:
            read_checkpoint(path)
        except NnscopeError as e:
            reason = str(e).removeprefix(f"{path}: ").split("; retrain")[0]
            raise NnscopeError(f"{option}: {path} exists and is not a usable nnscope checkpoint ({reason}); "
                               "refusing to overwrite it: move it away or pass another path") from None
    check_output_file(option, path, ours=is_checkpoint, rewrites_input=True)  # train and report keep it


def load_model(path: str | Path | None = None) -> CNN:
    """The trained CNN from `path` (default runs/mnist_cnn.pt), in eval mode, on the CPU."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    model = model_from_checkpoint(read_checkpoint(path), path)
    note_input(path)
    return model
