"""What `nnscope occlude` and `run_occlusion` can be asked (Problem 2.1-2.2), every default written once."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError
from nnscope.options.checks import real_number, whole_number

SIDE = 28  # pixels: MNIST images are SIDE x SIDE; every occlusion and attack module reads it from here
AGGREGATE_IMAGES = 100  # correctly classified images of the class the aggregate averages, by default
MNIST_DIGIT = 6  # the assignment's digit: the default class to pick when the data is the ten digits
GRID = 3  # the generic split of "which parts matter": GRID x GRID regions of the image
SHARD_SIZE = 64  # images per shard file of --all: the most work an interruption loses, and the maps held in memory


def check_geometry(patch, stride, fill, side: int = SIDE) -> None:
    """Raise NnscopeError unless the patch fits the image, the stride is >= 1 and fill is in [0, 1]."""
    whole_number("--patch", patch, 1, side, "of pixels")
    whole_number("--stride", stride, 1, None, "of pixels")
    real_number("--fill", fill, 0.0, 1.0, "a grey value (0 black, 1 white)")


def as_pair(values) -> tuple:
    """8 -> (8, 8); [6, 4] -> (6, 4): one number (a square, one step) or (height, width)."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    return values[0], values[-1]


@dataclass(frozen=True)
class OcclusionOptions:
    """One image's occlusion maps and which parts matter, or (test_set) the maps of many images in one .npz."""

    digit: int | None = None  # the class of the image to pick (None: any class; `occlude` on MNIST gives MNIST_DIGIT)
    index: int | None = None  # its index in the data (None: the first correctly classified image of `digit`)
    patch: int | tuple[int, ...] = 8  # side of the square patch, or its (height, width), pixels
    stride: int | tuple[int, ...] = 1  # step between patch positions, or the (vertical, horizontal) steps, pixels
    fill: float | tuple[float, ...] = 0.0  # the patch's value in [0, 1]: one for every channel, or one per channel
    target: int | None = None  # class of map 1 (None: the image's label when known, else the prediction)
    # images: without test_set, the correctly classified images of the class the aggregate averages
    # (None: AGGREGATE_IMAGES, 0: no aggregate); with test_set, the first N of the data (None: all)
    images: int | None = None
    test_set: bool = False  # the probabilities of the (first `images`) images into one .npz instead
    npz: str | None = None  # with test_set: the .npz file (None: occlusion_all.npz in the output folder)
    shards: str | None = None  # with test_set: the folder of shard files, kept (None: beside the .npz, removed at the end)
    shard_size: int = SHARD_SIZE  # with test_set: images per shard file
    # one image: the exact map at every 2nd position, then exactly only the top `drill_down` share of the
    # positions by the change of the target's output and their neighbours, interpolated elsewhere (None: exact)
    drill_down: float | None = None
    explorer: bool = False  # add the data of the report's occlusion explorer (the image as 0-255 pixels)
    grid: int = GRID  # regions per side of "which parts matter" where the digit parts do not apply

    def check(self) -> None:
        """Raise NnscopeError naming the first option out of range (those that need no image or model)."""
        for option, values in (("--patch", self.patch), ("--stride", self.stride)):
            if isinstance(values, (tuple, list)) and len(values) not in (1, 2):
                raise NnscopeError(f"{option}: {len(values)} numbers; expected 1 (a square) or 2 (height width)")
        for value in self.patch_hw:
            whole_number("--patch", value, 1, None, "of pixels")
        for value in self.stride_hw:
            whole_number("--stride", value, 1, None, "of pixels")
        for step, side in zip(self.stride_hw, self.patch_hw):
            if step > side:  # a grid with gaps: pixels no patch hides, findings about parts it never saw
                raise NnscopeError(f"--stride: {step} pixels is more than the patch's {side}: the pixels between "
                                   f"two positions would never be hidden; expected at most {side}")
        if not self.fills:
            raise NnscopeError("--fill: no values; expected one, or one per channel")
        for value in self.fills:
            real_number("--fill", value, 0.0, 1.0, "a pixel value (0 black, 1 white)")
        for option, value in (("--target", self.target), ("--index", self.index), ("--digit", self.digit)):
            if value is not None:
                whole_number(option, value, 0, None)
        if self.images is not None:
            whole_number("--images", self.images, 1 if self.test_set else 0, None, "of images")
        whole_number("grid", self.grid, 1, None)
        whole_number("--shard-size", self.shard_size, 1, None, "of images")
        if self.drill_down is not None:
            real_number("--drill-down", self.drill_down, 0.0, 1.0, "a share of the positions", open_low=True)
            if self.test_set:
                raise NnscopeError("--drill-down: one image's approximate map; --all computes every image's exact "
                                   "maps, expected one of the two")

    @property
    def patch_hw(self) -> tuple[int, int]:
        """(height, width) of the patch: a square when one number was given."""
        return as_pair(self.patch)

    @property
    def stride_hw(self) -> tuple[int, int]:
        """(vertical, horizontal) stride."""
        return as_pair(self.stride)

    @property
    def fills(self) -> tuple[float, ...]:
        """The fill as a tuple: one value, or one per channel."""
        return tuple(self.fill) if isinstance(self.fill, (tuple, list)) else (self.fill,)

    @property
    def aggregate_images(self) -> int:
        """How many images the aggregate averages (0: none)."""
        return AGGREGATE_IMAGES if self.images is None else self.images

    def ignored(self) -> list[tuple[str, str]]:
        """(option, the mode it needs) of each option given that does nothing in this mode."""
        given = (("--npz", self.npz is not None), ("--shards", self.shards is not None),
                 ("--shard-size", self.shard_size != SHARD_SIZE))
        return [(option, "--all") for option, on in given if on and not self.test_set]

    def check_image(self, channels: int, height: int, width: int, classes: int) -> None:
        """Raise NnscopeError where the options do not fit an image of (channels, height, width) or K classes."""
        ph, pw = self.patch_hw
        if ph > height or pw > width:
            raise NnscopeError(f"--patch: {ph} x {pw} pixels; the image is {height} x {width} (H x W), "
                               "expected a patch inside it")
        if len(self.fills) not in (1, channels):
            raise NnscopeError(f"--fill: {len(self.fills)} values; the model takes {channels} channels, "
                               f"expected 1 or {channels}")
        self.check_classes(classes)

    def check_classes(self, classes: int) -> None:
        """Raise NnscopeError where --target or --digit names no class of a model of `classes` outputs."""
        for option, value in (("--target", self.target), ("--digit", self.digit)):
            if value is not None and value >= classes:
                raise NnscopeError(f"{option}: {value}; the model has {classes} classes, expected 0 to {classes - 1}")
