"""Shifting images by whole pixels with four border paddings, and what the shift does to any model.

Convention: `dx > 0` moves the image right, `dy > 0` moves it down. Output pixel (i, j) takes input
pixel (i - dy, j - dx); where that lies outside the image the padding decides:
- clamp (replicate): the closest valid pixel, so for a left shift by k column j takes column min(j + k, W - 1);
- zero: black (0);
- reflect: the mirror image about the edge pixel, which is not repeated (numpy's 'reflect');
- wrap: the pixels that leave on one side come back on the other.

The example is the first correctly classified image of class `digit` in the data (a name or an index;
MNIST's default is '1') or an image given by the caller; the sweep runs over the data.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.findings.shift import describe_shift
from nnscope.labelled_data import LabelledImages
from nnscope.models import LoadedModel
from nnscope.options.checks import one_of, whole_number
from nnscope.options.shift import MNIST_DIGIT, PADDINGS, SIDE, ShiftOptions
from nnscope.progress import Progress
from nnscope.results import Result
from nnscope.vision.examples import byte_pixels, class_index, first_right_class, pick_image, probabilities

BREAK_ACCURACY = 0.9  # a digit "breaks" at the smallest shift where its accuracy falls below this


def check_shift(pixels: int, option: str, side: int = SIDE) -> int:
    """`pixels` if a shift by it either way leaves part of an image of `side` pixels in view, else a clear error."""
    if isinstance(pixels, (bool, np.bool_)) or not isinstance(pixels, (int, np.integer)) or not abs(pixels) < side:
        raise NnscopeError(f"{option}: {pixels!r}; expected a whole number of pixels from 0 to {side - 1} either way")
    return int(pixels)


def check_padding(padding: str) -> str:
    """`padding` if it is a known mode, else a clear error."""
    return one_of("--padding", padding, PADDINGS)


def source_indices(size: int, shift: int, padding: str) -> tuple[np.ndarray, np.ndarray]:
    """For each output position, the input index it copies and whether it is valid (False: zero it)."""
    index = np.arange(size) - shift  # may fall outside 0..size-1
    inside = (index >= 0) & (index < size)
    if padding == "clamp":
        return np.clip(index, 0, size - 1), np.ones(size, bool)
    if padding == "zero":
        return np.clip(index, 0, size - 1), inside
    if padding == "wrap":
        return index % size, np.ones(size, bool)
    period = 2 * (size - 1)  # reflect: -1 -> 1, size -> size - 2, repeating with this period
    folded = index % period
    return np.where(folded >= size, period - folded, folded), np.ones(size, bool)


def shift_images(images: np.ndarray, dx: int, dy: int, padding: str = "clamp") -> np.ndarray:
    """`images` (..., H, W) moved right by dx and down by dy pixels, borders filled by `padding`."""
    check_padding(padding)
    height, width = images.shape[-2:]
    # MNIST's -27..27 bound, or the image's own side when larger (any shift of a smaller one is defined)
    check_shift(dx, "dx", max(width, SIDE))
    check_shift(dy, "dy", max(height, SIDE))
    rows, row_ok = source_indices(height, dy, padding)
    cols, col_ok = source_indices(width, dx, padding)
    # rows, then columns, each taken along its own axis: the result is laid out in C order like `images`. Indexing
    # both axes at once (images[..., rows[:, None], cols[None, :]]) puts the leading axes innermost in memory, which
    # torch reads as channels-last, so the same image went through another convolution kernel than its unshifted
    # self and its probabilities differed in the last bit
    shifted = np.take(np.take(images, rows, axis=-2), cols, axis=-1)
    if padding == "zero":
        shifted = shifted * (row_ok[:, None] & col_ok[None, :]).astype(images.dtype)
    return shifted


def shift_image(image: np.ndarray, dx: int, dy: int = 0, padding: str = "clamp") -> np.ndarray:
    """One (28, 28) image moved right by dx and down by dy pixels (negative: left / up)."""
    assert image.ndim == 2, image.shape
    return shift_images(image, dx, dy, padding)


@dataclass
class ShiftResult(Result):
    """The example shifted left and right, where its prediction first changes, and the sweep over the data."""

    title = "shift"
    model: str  # what was loaded
    source: str  # where the example comes from: 'image 5 of the mnist test set', '--image'
    index: int | None  # its index in the data (None: an image given by the caller)
    label: int | None  # its class index (None: unknown, the original prediction is the reference)
    digit: int  # the class whose probability is followed: the label, else the original prediction
    pixels: int
    padding: str
    image_shape: list[int]  # (C, H, W)
    class_names: list[str]
    original: dict  # image (H, W for grey, else C, H, W), prediction, probabilities
    left: dict
    right: dict
    changed: dict[str, bool]
    first_change: dict[str, dict]
    slider: dict | None = None  # the page's slider: the example shifted -N..+N px in x, classified
    sweep: dict | None = None  # accuracy for every shift, padding and class over the data
    skipped: str | None = None  # why the sweep is not there
    figures: list[dict] = field(default_factory=list)
    finding: list[str] = field(default_factory=list)

    def omitted_when_none(self) -> tuple[str, ...]:
        return ("slider", "sweep", "skipped")


def shown(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) image as results hold it: (H, W) when grey, else unchanged."""
    return image[0] if image.shape[0] == 1 else image


def view(model: LoadedModel, image: np.ndarray) -> dict:
    """One (C, H, W) image with its prediction and K probabilities."""
    p = probabilities(model, image[None])[0]
    return {"image": shown(image), "prediction": int(p.argmax()), "probabilities": p}


def first_change(predict_labels: Callable[[np.ndarray], np.ndarray], image: np.ndarray, padding: str,
                 label: int) -> dict:
    """Per side, the smallest shift (1 to width-1 px) at which `image` (..., H, W) is no longer predicted `label`,
    the new label, and from which shift the image is blank (all zero); `predict_labels` maps a stack of images to
    labels."""
    sizes = np.arange(1, image.shape[-1])
    out = {}
    for side, sign in (("left", -1), ("right", 1)):
        moved = np.stack([shift_images(image, int(sign * k), 0, padding) for k in sizes])  # (W-1, ..., H, W)
        predicted = predict_labels(moved)
        changed = np.flatnonzero(predicted != label)
        empty = np.flatnonzero(moved.reshape(len(sizes), -1).max(axis=1) == 0)  # shifts that leave a blank image
        out[side] = {"pixels": int(sizes[changed[0]]) if len(changed) else None,  # None: it holds for every shift
                     "prediction": int(predicted[changed[0]]) if len(changed) else label,
                     "empty_from": int(sizes[empty[0]]) if len(empty) else None}
    return out


def shift_sweep(model: LoadedModel, data: LabelledImages, max_shift: int = ShiftOptions.sweep_max,
                paddings: tuple[str, ...] = PADDINGS, limit: int | None = None, progress=None) -> dict:
    """Accuracy on `data` (its first `limit` images), overall and per class, for every shift -max..+max in x and
    in y and every padding."""
    # progress(done, total, info) is called after each of the 2 x paddings x shifts evaluations
    whole_number("--sweep-max", max_shift, 1, max(SIDE, min(data.input_shape[1:])) - 1, unit="of pixels")
    for padding in paddings:
        check_padding(padding)
    images, labels = data.images[:limit], data.labels[:limit]  # (N, C, H, W) as stored, (N,)
    scale = np.float32(data.scale)
    shifts = np.arange(-max_shift, max_shift + 1)
    classes = len(data.class_names)
    counts = np.bincount(labels, minlength=classes)
    # accuracy[axis][padding] -> (shifts,), per_digit[axis][padding] -> (classes, shifts)
    accuracy = {axis: {p: np.zeros(len(shifts)) for p in paddings} for axis in ("x", "y")}
    per_digit = {axis: {p: np.zeros((classes, len(shifts))) for p in paddings} for axis in ("x", "y")}
    right = lambda moved, wanted: probabilities(model, moved.astype(np.float32) * scale).argmax(1) == wanted  # noqa: E731
    done, total = 0, 2 * len(paddings) * len(shifts)
    for axis in ("x", "y"):
        for column, shift in enumerate(shifts):
            dx, dy = (int(shift), 0) if axis == "x" else (0, int(shift))
            reference = None  # (images, correct) of the first padding at this shift
            for padding in paddings:
                moved = shift_images(images, dx, dy, padding)
                if reference is None:
                    correct = right(moved, labels)
                    reference = moved, correct
                else:
                    # paddings differ only on images with nonzero pixels near the border (a few percent of MNIST):
                    # classify those, reuse the reference for the rest; the numbers are the same
                    differs = (moved != reference[0]).reshape(len(moved), -1).any(axis=1)
                    correct = reference[1].copy()
                    if differs.any():
                        correct[differs] = right(moved[differs], labels[differs])
                accuracy[axis][padding][column] = correct.mean()
                per_digit[axis][padding][:, column] = np.bincount(labels, weights=correct, minlength=classes) / np.maximum(counts, 1)
                done += 1
                if progress:
                    progress(done, total, f"{axis} {padding} {shift:+d}")
    return {"shifts": shifts, "paddings": list(paddings), "images": len(labels), "accuracy": accuracy,
            "edge_share": border_share(images, 1), "ring_share": border_share(images, max_shift),
            "per_digit": per_digit, "per_class": per_digit, "class_names": list(data.class_names),
            "breaks": break_points(shifts, per_digit), "break_accuracy": BREAK_ACCURACY}


def border_share(images: np.ndarray, width: int) -> float:
    """Share of images (N, ..., H, W) with a nonzero pixel within `width` pixels of the border.

    Paddings can only differ on such images: clamp from zero needs one on the edge itself (width 1),
    reflect and wrap within the shift's distance of the border."""
    if width < 1:
        return 0.0
    inner = images.copy()
    inner[..., width:-width, width:-width] = 0
    return float((inner.reshape(len(images), -1).max(1) > 0).mean())


def break_points(shifts: np.ndarray, per_digit: dict) -> dict:
    """Per axis, padding and class: the smallest shift, toward each side, where accuracy falls below BREAK_ACCURACY."""
    breaks = {}
    for axis, by_padding in per_digit.items():
        breaks[axis] = {}
        for padding, table in by_padding.items():
            rows = []
            for digit in range(len(table)):
                row = {"digit": digit}
                for side, order in (("negative", np.argsort(-shifts)), ("positive", np.argsort(shifts))):
                    broken = [int(shifts[c]) for c in order if table[digit, c] < BREAK_ACCURACY and
                              (shifts[c] > 0) == (side == "positive") and shifts[c] != 0]
                    row[side] = broken[0] if broken else None  # None: holds up to the largest shift tried
                rows.append(row)
            breaks[axis][padding] = rows
    return breaks


def slider_views(model: LoadedModel, image: np.ndarray, largest: int, padding: str) -> dict:
    """The page's slider: `image` (C, H, W) in [0, 1] shifted -largest..+largest px in x, each classified."""
    shifts = list(range(-largest, largest + 1))
    views = [view(model, shift_images(image, dx, 0, padding)) for dx in shifts]
    return {"shifts": shifts, "padding": padding, "images": [byte_pixels(v["image"]) for v in views],
            "predictions": [v["prediction"] for v in views], "probabilities": [v["probabilities"] for v in views]}


def example_class(model: LoadedModel, data: LabelledImages, wanted) -> int:
    """The class to shift: `wanted` (a name or an index of the data); by default MNIST's '1', else the class of
    the first image the model gets right."""
    if wanted is None:
        return class_index(data, MNIST_DIGIT, "--digit") if data.name == "mnist" else first_right_class(model, data)
    return class_index(data, wanted, "--digit")


def measure_shift(model: LoadedModel, data: LabelledImages | None, options: ShiftOptions = ShiftOptions(),
                  image: np.ndarray | None = None, progress: Progress | None = None) -> ShiftResult:
    """Problem 1.3: the example (`image` (C, H, W), else a correctly classified image of class `options.digit`
    of `data`) shifted left and right, the slider's views (if `options.slider`), and the sweep over `data` (if
    `options.sweep`)."""
    if data is None and image is None:
        raise NnscopeError("--data: the shift needs an image: give --data PATH (a labelled data set) or --image PATH")
    c, h, w = image.shape if image is not None else data.input_shape
    options.check(side=min(h, w) if options.sweep and data is not None else w)
    if image is None:
        label = example_class(model, data, options.digit)
        index = pick_image(model, data, label, options.index, "--digit")
        image, source = data.float_images([index])[0], f"image {index} of {data.source}"
    else:
        label, index, source = None, None, "--image"
    original = view(model, image)
    left = view(model, shift_images(image, -options.pixels, 0, options.padding))
    right = view(model, shift_images(image, options.pixels, 0, options.padding))
    result = ShiftResult(
        model=model.source, source=source, index=index, label=label,
        digit=label if label is not None else original["prediction"], pixels=options.pixels, padding=options.padding,
        image_shape=[c, h, w], class_names=list(model.class_names), original=original, left=left, right=right,
        changed={side: view_["prediction"] != original["prediction"] for side, view_ in (("left", left), ("right", right))},
        first_change=first_change(lambda moved: probabilities(model, moved).argmax(1), image, options.padding,
                                  original["prediction"]))
    if options.slider:
        result.slider = slider_views(model, image, options.slider, options.padding)
    if not options.sweep:
        result.skipped = "--no-sweep given: the sweep was skipped"
    elif data is None:
        result.skipped = "no --data given: the sweep over a labelled data set was skipped"
    else:
        result.sweep = shift_sweep(model, data, options.sweep_max, limit=options.sweep_images, progress=progress)
    result.finding = describe_shift(result.as_dict())
    return result
