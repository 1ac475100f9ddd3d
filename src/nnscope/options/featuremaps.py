"""What `nnscope featuremaps` can be asked: the two classes, the layer, the examples, the ablation."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError
from nnscope.options.checks import whole_number

MNIST_CLASSES = ("0", "8")  # the pair compared on MNIST when none is asked for (Problem 1.2: a '0' and an '8')


@dataclass(frozen=True)
class FeatureMapsOptions:
    """The options of `run_featuremaps`."""

    # the two classes compared, names or indices of the data; None: '0' and '8' on MNIST, else the first two
    classes: tuple[str | int, str | int] | None = None
    # the module whose output is drawn and ranked, by its named_modules() name; None: the third Conv2d in forward
    # order (conv3 for nnscope's CNN, whose convN is the raw convolution output, reluN its block output)
    layer: str | None = None
    index: tuple[int, int] | None = None  # indices in the data of the two examples; None: the first correctly classified
    top: int = 6  # channels drawn in the top-channels figure (at most the layer's channel count)
    draws: int = 10  # random k-channel sets per k in the ablation, averaged
    seed: int = 0  # seed of the random channel sets
    limit: int | None = None  # ranking and ablation use the first `limit` images of the data; None: all of them
    single: int = 64  # the top-ranked channels also ablated one at a time (every channel of a layer of 64 or fewer)

    def check(self) -> None:
        """Raise NnscopeError naming the option (as the command line spells it) of the first bad value."""
        if self.classes is not None:
            if not isinstance(self.classes, (tuple, list)) or len(self.classes) != 2:
                raise NnscopeError(f"--classes: {self.classes!r}; expected two classes, e.g. --classes 0 8")
            if str(self.classes[0]) == str(self.classes[1]):
                raise NnscopeError(f"--classes: both classes are '{self.classes[0]}'; expected two different classes")
        if self.layer is not None and (not isinstance(self.layer, str) or not self.layer):
            raise NnscopeError(f"--layer: {self.layer!r}; expected a module name as named_modules() gives it")
        if self.index is not None:
            if not isinstance(self.index, (tuple, list)) or len(self.index) != 2:
                raise NnscopeError(f"--index: {self.index!r}; expected two indices, one per class")
            for index in self.index:
                whole_number("--index", index, 0)
        whole_number("--top", self.top, 1, unit="of channels")
        whole_number("--draws", self.draws, 1)
        whole_number("--seed", self.seed, 0, 2**64 - 1)
        whole_number("single", self.single, 0, unit="of channels")
        if self.limit is not None:
            whole_number("--images", self.limit, 2, unit="of images")
