"""What `nnscope occlude` and `run_occlusion` can be asked (Problem 2.1-2.2), every default written once."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError
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


GRID = 3  # the generic split of "which parts matter": GRID x GRID regions of the image


@dataclass(frozen=True)
class ModelOcclusionOptions:
    """Occlusion of one image on any model (`occlude --model SPEC --image PATH` or a pick from `--data`)."""

    patch: tuple[int, int] = (8, 8)  # (height, width) of the patch, pixels
    stride: tuple[int, int] = (1, 1)  # (vertical, horizontal) step between patch positions, pixels
    fill: tuple[float, ...] = (0.0,)  # the patch's value per channel in [0, 1]; one value: every channel
    target: int | None = None  # class of map 1 (None: the image's label when known, else the prediction)
    index: int | None = None  # with a data set: the image's index in it (None: the first correctly classified)
    digit: int | None = None  # with a data set and no index: pick the first correctly classified of this class
    images: int | None = None  # with a data set: images of the target class the aggregate averages (None: AGGREGATE_IMAGES)
    grid: int = GRID  # regions per side of the generic split

    def check(self) -> None:
        """Raise NnscopeError naming the first option out of range (those that need no image or model)."""
        for option, values in (("--patch", self.patch), ("--stride", self.stride)):
            if len(values) not in (1, 2):
                raise NnscopeError(f"{option}: {len(values)} numbers; expected 1 (a square) or 2 (height width)")
        for value in self.patch:
            whole_number("--patch", value, 1, None, "of pixels")
        for value in self.stride:
            whole_number("--stride", value, 1, None, "of pixels")
        if not self.fill:
            raise NnscopeError("--fill: no values; expected one, or one per channel")
        for value in self.fill:
            real_number("--fill", value, 0.0, 1.0, "a pixel value (0 black, 1 white)")
        for option, value in (("--target", self.target), ("--index", self.index), ("--digit", self.digit)):
            if value is not None:
                whole_number(option, value, 0, None)
        if self.images is not None:
            whole_number("--images", self.images, 0, None, "of images")
        whole_number("grid", self.grid, 1, None)

    @property
    def patch_hw(self) -> tuple[int, int]:
        """(height, width) of the patch: a square when one number was given."""
        return (self.patch[0], self.patch[-1])

    @property
    def stride_hw(self) -> tuple[int, int]:
        """(vertical, horizontal) stride."""
        return (self.stride[0], self.stride[-1])

    @property
    def aggregate_images(self) -> int:
        """How many images the aggregate averages (0: none)."""
        return AGGREGATE_IMAGES if self.images is None else self.images

    def check_image(self, channels: int, height: int, width: int, classes: int) -> None:
        """Raise NnscopeError where the options do not fit an image of (channels, height, width) or K classes."""
        ph, pw = self.patch_hw
        if ph > height or pw > width:
            raise NnscopeError(f"--patch: {ph} x {pw} pixels; the image is {height} x {width} (H x W), "
                               "expected a patch inside it")
        if len(self.fill) not in (1, channels):
            raise NnscopeError(f"--fill: {len(self.fill)} values; the model takes {channels} channels, "
                               f"expected 1 or {channels}")
        for option, value in (("--target", self.target), ("--digit", self.digit)):
            if value is not None and value >= classes:
                raise NnscopeError(f"{option}: {value}; the model has {classes} classes, expected 0 to {classes - 1}")
