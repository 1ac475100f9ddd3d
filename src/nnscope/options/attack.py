"""What `nnscope attack` and `run_attack` can be asked (Problem 2.3), every default written once."""

from dataclasses import dataclass

from nnscope.errors import NnscopeError
from nnscope.options.checks import whole_number
from nnscope.options.occlusion import SIDE


@dataclass(frozen=True)
class AttackOptions:
    """Squares cut from other digits pasted onto one digit, and the success rate over many."""

    digit: int = 6  # the class of the attacked image, 0-9
    index: int | None = None  # its index in the test set (None: the first correctly classified `digit`)
    sizes: tuple[int, ...] = (4, 6, 8, 10)  # sides of the pasted squares, pixels (1 to SIDE)
    donors: int = 2  # donor images per other digit: the first correctly classified test images of each
    images: int = 30  # correctly classified test images of `digit` the success rate is measured over (0: none)
    rate_stride: int = 2  # pixels between the paste positions of the success rate (the example: every pixel)
    every_image: bool = True  # each success's pasted image in the result (False: only the drawn examples')

    def check(self) -> None:
        """Raise NnscopeError naming the first option that is out of range."""
        whole_number("--digit", self.digit, 0, 9)
        if self.index is not None:
            whole_number("--index", self.index, 0, None)
        if not self.sizes:
            raise NnscopeError(f"--sizes: none given; expected sides from 1 to {SIDE} pixels")
        for size in self.sizes:
            whole_number("--sizes", size, 1, SIDE, "of pixels")
        whole_number("--donors", self.donors, 1, None, "of donor images per digit")
        whole_number("--images", self.images, 0, None, "of test images")
        whole_number("--rate-stride", self.rate_stride, 1, None, "of pixels")
