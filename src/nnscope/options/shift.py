"""What `nnscope shift` can be asked: the example, its shift and padding, the sweep and the page's slider."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError
from nnscope.options.checks import ignored, one_of, whole_number

PADDINGS = ("clamp", "zero", "reflect", "wrap")  # how the pixels that come in are filled (see nnscope.vision.shift)
SIDE = 28  # MNIST images are SIDE x SIDE pixels: a shift of SIDE or more leaves nothing in view
MNIST_DIGIT = "1"  # the class shifted on MNIST when none is asked for (Problem 1.3: a '1')


@dataclass(frozen=True)
class ShiftOptions:
    """The options of `run_shift`."""

    # the class to shift, a name or an index of the data; None: '1' on MNIST (Problem 1.3), else the class of the
    # first image the model classifies correctly
    digit: int | str | None = None
    index: int | None = None  # index in the data of the image; None: the first correctly classified `digit`
    pixels: int = 3  # how far the example is shifted left and right, pixels
    padding: str = "clamp"  # how the pixels that come in are filled: one of PADDINGS
    sweep: bool = True  # measure the test accuracy for every shift in x and y and every padding
    sweep_max: int = 6  # the sweep covers shifts -sweep_max..+sweep_max pixels in x and in y
    sweep_images: int | None = None  # the sweep uses the first N test images; None: all of them
    slider: int = 0  # the page's slider: the example shifted -slider..+slider px in x, classified; 0: none

    def check(self, side: int | None = SIDE) -> None:
        """Raise NnscopeError naming the option (as the command line spells it) of the first bad value; `side`:
        the image side (MNIST's by default; the data's once loaded; None: not known yet). The data checks the
        class of --digit."""
        if isinstance(self.digit, str):
            if not self.digit:
                raise NnscopeError("--digit: ''; expected a class name or index of the data")
        elif self.digit is not None:
            whole_number("--digit", self.digit, 0)
        if self.index is not None:
            whole_number("--index", self.index, 0)
        whole_number("--pixels", self.pixels, 0, None if side is None else side - 1, unit="of pixels")
        one_of("--padding", self.padding, PADDINGS)
        whole_number("--sweep-max", self.sweep_max, 1, None if side is None else side - 1, unit="of pixels")
        if self.sweep_images is not None:
            whole_number("--images", self.sweep_images, 1, unit="of images")
        whole_number("slider", self.slider, 0, SIDE - 1, unit="of pixels")
        if not isinstance(self.sweep, bool):
            raise NnscopeError(f"--no-sweep: {self.sweep!r}; expected on or off")

    def ignored(self) -> list[str]:
        """One note per option given that does nothing in this mode (the command logs them)."""
        if self.sweep:
            return []
        defaults = ShiftOptions()
        return [ignored(option, "the sweep (--no-sweep was given)") for option, value, default in
                (("--sweep-max", self.sweep_max, defaults.sweep_max), ("--images", self.sweep_images, defaults.sweep_images))
                if value != default]
