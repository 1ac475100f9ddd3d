"""What `nnscope attack` and `run_attack` can be asked (Problem 2.3), every default written once."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError
from nnscope.options.checks import whole_number
from nnscope.options.occlusion import SIDE


@dataclass(frozen=True)
class AttackOptions:
    """Squares cut from other digits pasted onto one digit, and the success rate over many."""

    digit: int | None = None  # the class of the attacked image (None: any class; on the ten digits MNIST_DIGIT)
    index: int | None = None  # its index in the test set or the data (None: the first correctly classified `digit`)
    sizes: tuple[int, ...] = (4, 6, 8, 10)  # sides of the pasted squares, pixels (1 to SIDE)
    donors: int = 2  # donor images per other digit: the first correctly classified test images of each
    images: int = 30  # correctly classified test images of `digit` the success rate is measured over (0: none)
    rate_stride: int = 2  # pixels between the paste positions of the success rate (the example: every pixel)
    every_image: bool = False  # each success's pasted image in the result (False: only the drawn examples')

    def check(self, side: int = SIDE, classes: int = 10, image: str = "") -> None:
        """Raise NnscopeError naming the first option that is out of range; `side` (the image's min(H, W)),
        `classes` and `image` (its words in the message, e.g. 'the 3 x 30 x 26 image'): MNIST's by default."""
        if self.digit is not None:  # None: any class
            whole_number("--digit", self.digit, 0, classes - 1)
        if self.index is not None:
            whole_number("--index", self.index, 0, None)
        if not self.sizes:
            raise NnscopeError(f"--sizes: none given; expected sides from 1 to {side} pixels")
        for size in self.sizes:
            try:
                whole_number("--sizes", size, 1, side, "of pixels")
            except NnscopeError as error:
                raise NnscopeError(f"{error}, min(H, W) of {image}" if image else str(error)) from None
        whole_number("--donors", self.donors, 1, None, "of donor images per digit")
        whole_number("--images", self.images, 0, None, "of test images")
        whole_number("--rate-stride", self.rate_stride, 1, None, "of pixels")
