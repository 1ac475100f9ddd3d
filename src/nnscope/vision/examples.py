"""Picking the example an analysis looks at: a test image of a given digit that the model gets right."""

import numpy as np
import torch

from nnscope.data import Digits, as_float_images
from nnscope.errors import NnscopeError


def check_digit(digit: int, option: str = "--digit") -> int:
    """`digit` if it is 0-9, else a clear error naming the option."""
    if not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise NnscopeError(f"{option}: {digit!r} is not a digit; expected a whole number from 0 to 9")
    return int(digit)


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    """Softmax probabilities (N, 10) for float images (N, 1, 28, 28) in [0, 1]."""
    return torch.cat([torch.softmax(model(images[i : i + batch]), 1) for i in range(0, len(images), batch)])


def pick_example(model: torch.nn.Module, digits: Digits, digit: int, index: int | None = None) -> int:
    """Index into the test set of a correctly classified `digit`: `index` if given (checked), else the first one."""
    check_digit(digit)
    labels = digits.test_labels
    if index is not None:
        if not 0 <= index < len(labels):
            raise NnscopeError(f"--index: {index} is outside the test set; expected 0 to {len(labels) - 1}")
        if labels[index] != digit:
            raise NnscopeError(f"--index: test image {index} is a '{labels[index]}', expected a '{digit}'")
        predicted = int(predict(model, as_float_images(digits.test_images[index : index + 1])).argmax(1))
        if predicted != digit:
            raise NnscopeError(
                f"--index: test image {index} (a '{digit}') is classified as '{predicted}'; "
                "pick a correctly classified one"
            )
        return index
    candidates = np.flatnonzero(labels == digit)
    for start in range(0, len(candidates), 256):
        chunk = candidates[start : start + 256]
        predicted = predict(model, as_float_images(digits.test_images[chunk])).argmax(1).numpy()
        hits = chunk[predicted == digit]
        if len(hits):
            return int(hits[0])
    raise NnscopeError(f"--digit: the model classifies no test image of a '{digit}' correctly")


def byte_pixels(image: np.ndarray) -> list[list[int]]:
    """A [0, 1] image (28, 28) as 0-255 integers: compact in a page, exact for MNIST's k/255 values."""
    return np.rint(np.asarray(image, dtype=np.float64) * 255).astype(int).tolist()
