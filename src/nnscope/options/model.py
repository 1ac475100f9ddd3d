"""Which model an analysis looks at: `--model SPEC` and what goes with it. Imports no torch."""

from dataclasses import dataclass
from pathlib import Path

from nnscope.errors import NnscopeError
from nnscope.options.checks import real_number, whole_number
from nnscope.paths import DEFAULT_CHECKPOINT

MAX_SIDE = 4096  # pixels: larger inputs are not 'small networks'; the probing pass would take minutes


@dataclass(frozen=True)
class ModelOptions:
    """--model and its companions, as every command that takes a model spells them."""

    # nnscope checkpoint, TorchScript file, torch.export .pt2 or FILE.py:NAME (importing FILE.py runs its code)
    spec: str = str(DEFAULT_CHECKPOINT)
    weights: Path | None = None  # state dict (torch.save) or .safetensors, for FILE.py:NAME only
    mean: tuple[float, ...] | None = None  # per-channel mean of the pixels in [0, 1], subtracted before the model
    std: tuple[float, ...] | None = None  # per-channel std in [0, 1] units, divided by after the mean
    input_shape: tuple[int, int, int] | None = None  # (C, H, W); None: the checkpoint's, the image's
    class_names: Path | None = None  # text file, one class name a line; None: the data's, else 0..K-1
    image: Path | None = None  # PNG, JPEG, BMP or .npy analysed instead of a test-set pick

    def check(self) -> "ModelOptions":
        """Raise NnscopeError naming the first option that is out of range; return self."""
        if not str(self.spec).strip():
            raise NnscopeError("--model: empty; expected a model file or FILE.py:NAME")
        if self.input_shape is not None:
            if len(self.input_shape) != 3:
                raise NnscopeError(f"--input-shape: {len(self.input_shape)} numbers; expected 3: C H W")
            whole_number("--input-shape C", self.input_shape[0], 1, 64, unit="channels")
            for side, value in zip("HW", self.input_shape[1:]):
                whole_number(f"--input-shape {side}", value, 1, MAX_SIDE, unit="pixels")
        for option, values in (("--mean", self.mean), ("--std", self.std)):
            if values is not None and not values:
                raise NnscopeError(f"{option}: no values; expected one per channel")
        for value in self.mean or ():
            real_number("--mean", value)
        for value in self.std or ():
            real_number("--std", value, 0, None, open_low=True)
        if (self.mean is None) != (self.std is None):
            raise NnscopeError("--mean and --std: give both or neither")
        return self
