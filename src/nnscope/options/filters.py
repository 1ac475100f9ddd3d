"""What `nnscope filters` can be asked: which conv layers to draw."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError


@dataclass(frozen=True)
class FiltersOptions:
    """The options of `run_filters`."""

    # conv layers to draw by their named_modules() names; None: the first three in forward order (Problem 1.1),
    # conv1 conv2 conv3 for nnscope's CNN
    layers: tuple[str, ...] | None = None
    every_filter: bool = True  # also draw every filter of a layer whose main figure shows only the strongest

    def check(self) -> None:
        """Raise NnscopeError naming --layer if the names cannot be layer names (the model checks the rest)."""
        if self.layers is None:
            return
        if isinstance(self.layers, str) or not self.layers:
            raise NnscopeError(f"--layer: {self.layers!r}; expected one or more conv layer names, e.g. conv1 conv2")
        for name in self.layers:
            if not isinstance(name, str) or not name:
                raise NnscopeError(f"--layer: {name!r}; expected conv layer names as named_modules() gives them")
