"""What `nnscope filters` can be asked: which conv layers to draw."""

import re
from dataclasses import dataclass

from nnscope.errors import NnscopeError


@dataclass(frozen=True)
class FiltersOptions:
    """The options of `run_filters`."""

    layers: tuple[str, ...] = ("conv1", "conv2", "conv3")  # conv layers to draw; Problem 1.1 asks for the first three

    def check(self) -> None:
        """Raise NnscopeError naming --layer if the names cannot be conv layers (the model checks the rest)."""
        if isinstance(self.layers, str) or not self.layers:
            raise NnscopeError(f"--layer: {self.layers!r}; expected one or more conv layer names, e.g. conv1 conv2")
        for name in self.layers:
            if not isinstance(name, str) or not re.fullmatch(r"conv[1-9][0-9]*", name):
                raise NnscopeError(f"--layer: unknown layer {name!r}; expected conv layer names: conv1, conv2, ...")
