"""What `nnscope occlude` and `run_occlusion` can be asked (Problem 2.1-2.2), every default written once."""

from dataclasses import dataclass

from nnscope.options.checks import real_number, whole_number

SIDE = 28  # pixels: MNIST images are SIDE x SIDE; every occlusion and attack module reads it from here
AGGREGATE_IMAGES = 100  # correctly classified test images of the digit the aggregate averages, by default


def check_geometry(patch, stride, fill, side: int = SIDE) -> None:
    """Raise NnscopeError unless the patch fits the image, the stride is >= 1 and fill is in [0, 1]."""
    whole_number("--patch", patch, 1, side, "of pixels")
    whole_number("--stride", stride, 1, None, "of pixels")
    real_number("--fill", fill, 0.0, 1.0, "a grey value (0 black, 1 white)")


@dataclass(frozen=True)
class OcclusionOptions:
    """One digit's occlusion maps and which parts matter, or (test_set) the maps of the whole test set."""

    digit: int = 6  # the class of the example image, 0-9
    index: int | None = None  # its index in the test set (None: the first correctly classified `digit`)
    patch: int = 8  # side of the square patch, pixels (1 to SIDE)
    stride: int = 1  # step between patch positions, pixels
    fill: float = 0.0  # grey value of the patch: 0 black to 1 white
    # test images: without test_set, the correctly classified test images of `digit` the aggregate
    # averages (None: AGGREGATE_IMAGES, 0: no aggregate); with test_set, the first N of the test set
    # (None: all of them)
    images: int | None = None
    test_set: bool = False  # the probabilities of the (first `images`) test images into one .npz instead
    npz: str | None = None  # with test_set: the .npz file (None: occlusion_all.npz in the output folder)
    explorer: bool = False  # add the data of the report's occlusion explorer (the image as 0-255 pixels)

    def check(self) -> None:
        """Raise NnscopeError naming the first option that is out of range."""
        whole_number("--digit", self.digit, 0, 9)
        if self.index is not None:
            whole_number("--index", self.index, 0, None)
        check_geometry(self.patch, self.stride, self.fill)
        if self.images is not None:
            whole_number("--images", self.images, 1 if self.test_set else 0, None, "of test images")

    @property
    def aggregate_images(self) -> int:
        """How many images the aggregate of the one-digit analysis averages (0: none)."""
        return AGGREGATE_IMAGES if self.images is None else self.images

    def ignored(self) -> list[tuple[str, str]]:
        """(option, the mode it needs) of each option given that does nothing in this mode."""
        return [("--npz", "--all")] if self.npz is not None and not self.test_set else []
