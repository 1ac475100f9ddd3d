"""What `nnscope featuremaps` can be asked: the two digits, the layer, the examples, the ablation."""

import re
from dataclasses import dataclass

from nnscope.errors import NnscopeError
from nnscope.options.checks import whole_number


@dataclass(frozen=True)
class FeatureMapsOptions:
    """The options of `run_featuremaps`."""

    digits: tuple[int, int] = (0, 8)  # the two digits compared (Problem 1.2: a '0' and an '8')
    layer: str = "conv3"  # conv1..conv3: raw convolution outputs (signed); relu1..relu3: block outputs
    index: tuple[int, int] | None = None  # test-set indices of the two examples; None: the first correctly classified
    top: int = 6  # channels drawn in the top-channels figure (at most the layer's channel count)
    draws: int = 10  # random k-channel sets per k in the ablation, averaged
    seed: int = 0  # seed of the random channel sets
    limit: int | None = None  # ranking and ablation use the first `limit` test images; None: all of them

    def check(self) -> None:
        """Raise NnscopeError naming the option (as the command line spells it) of the first bad value."""
        digits = tuple(self.digits) if isinstance(self.digits, (tuple, list)) else (self.digits,)
        if len(digits) != 2:
            raise NnscopeError(f"--digit: {len(digits)} digits given; expected two, e.g. --digit 0 8")
        for digit in digits:
            whole_number("--digit", digit, 0, 9)
        if digits[0] == digits[1]:
            raise NnscopeError(f"--digit: both digits are '{digits[0]}'; expected two different digits")
        if not isinstance(self.layer, str) or not re.fullmatch(r"(conv|relu)[1-9][0-9]*", self.layer):
            raise NnscopeError(f"--layer: unknown layer {self.layer!r}; expected conv1, relu1, conv2, relu2, ...")
        if self.index is not None:
            if not isinstance(self.index, (tuple, list)) or len(self.index) != 2:
                raise NnscopeError(f"--index: {self.index!r}; expected two test-set indices, one per digit")
            for index in self.index:
                whole_number("--index", index, 0)
        whole_number("--top", self.top, 1, unit="of channels")
        whole_number("--draws", self.draws, 1)
        whole_number("--seed", self.seed, 0, 2**64 - 1)
        if self.limit is not None:
            whole_number("--images", self.limit, 2, unit="of test images")
