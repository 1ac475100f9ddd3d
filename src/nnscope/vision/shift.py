"""Shifting digits by whole pixels with four border paddings, and what the shift does to the model.

Convention: `dx > 0` moves the digit right, `dy > 0` moves it down. Output pixel (i, j) takes input
pixel (i - dy, j - dx); where that lies outside the image the padding decides:
- clamp (replicate): the closest valid pixel, so for a left shift by k column j takes column min(j + k, 27);
- zero: black (0);
- reflect: the mirror image about the edge pixel, which is not repeated (numpy's 'reflect');
- wrap: the pixels that leave on one side come back on the other.
"""

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nnscope.data import Digits, as_float_images
from nnscope.errors import NnscopeError
from nnscope.findings.shift import describe_shift
from nnscope.options.checks import one_of, whole_number
from nnscope.options.shift import PADDINGS, SIDE, ShiftOptions
from nnscope.progress import Progress
from nnscope.report.records import figure
from nnscope.report.figures_shift import draw_shift_example, draw_shift_per_digit, draw_shift_sweep
from nnscope.vision.examples import byte_pixels, pick_example, predict

DEFAULTS = ShiftOptions()
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
    shifted = images[..., rows[:, None], cols[None, :]]
    if padding == "zero":
        shifted = shifted * (row_ok[:, None] & col_ok[None, :]).astype(images.dtype)
    return shifted


def shift_image(image: np.ndarray, dx: int, dy: int = 0, padding: str = "clamp") -> np.ndarray:
    """One (28, 28) image moved right by dx and down by dy pixels (negative: left / up)."""
    assert image.ndim == 2, image.shape
    return shift_images(image, dx, dy, padding)


def classify(model: torch.nn.Module, image: np.ndarray) -> dict:
    """Prediction and the ten probabilities of one float image (28, 28) in [0, 1]."""
    probabilities = predict(model, torch.as_tensor(image, dtype=torch.float32)[None, None])[0].numpy()
    return {"image": image, "prediction": int(probabilities.argmax()), "probabilities": probabilities}


def shift_experiment(model: torch.nn.Module, digits: Digits, digit: int = 1, pixels: int = 3,
                     padding: str = "clamp", index: int | None = None) -> dict:
    """A correctly classified `digit` shifted left and right by `pixels`, each image classified."""
    replace(DEFAULTS, digit=digit, pixels=pixels, padding=padding, index=index).check()
    index = pick_example(model, digits, digit, index)
    original = as_float_images(digits.test_images[index : index + 1])[0, 0].numpy()  # (28, 28) in [0, 1]
    views = {"original": original, "left": shift_image(original, -pixels, 0, padding),
             "right": shift_image(original, pixels, 0, padding)}
    result = {"index": index, "digit": digit, "pixels": pixels, "padding": padding}
    result.update({name: classify(model, image) for name, image in views.items()})
    result["changed"] = {side: result[side]["prediction"] != result["original"]["prediction"] for side in ("left", "right")}

    def labels_of(moved: np.ndarray) -> np.ndarray:  # (S, 28, 28) -> (S,) predicted labels
        return predict(model, torch.as_tensor(moved, dtype=torch.float32)[:, None]).argmax(1).numpy()

    result["first_change"] = first_change(labels_of, original, padding, result["original"]["prediction"])
    return result


def first_change(predict_labels: Callable[[np.ndarray], np.ndarray], image: np.ndarray, padding: str,
                 label: int) -> dict:
    """Per side, the smallest shift (1 to width-1 px) at which `image` (..., H, W) is no longer predicted `label`,
    the new label, and from which shift no ink is left; `predict_labels` maps a stack of images to labels."""
    sizes = np.arange(1, image.shape[-1])
    out = {}
    for side, sign in (("left", -1), ("right", 1)):
        moved = np.stack([shift_images(image, int(sign * k), 0, padding) for k in sizes])  # (W-1, ..., H, W)
        predicted = predict_labels(moved)
        changed = np.flatnonzero(predicted != label)
        empty = np.flatnonzero(moved.reshape(len(sizes), -1).max(axis=1) == 0)  # shifts that leave no ink
        out[side] = {"pixels": int(sizes[changed[0]]) if len(changed) else None,  # None: it holds for every shift
                     "prediction": int(predicted[changed[0]]) if len(changed) else label,
                     "empty_from": int(sizes[empty[0]]) if len(empty) else None}
    return out


def shift_sweep(model: torch.nn.Module, digits: Digits, max_shift: int = DEFAULTS.sweep_max,
                paddings: tuple[str, ...] = PADDINGS, limit: int | None = None, progress=None) -> dict:
    """Test accuracy, overall and per digit, for every shift -max..+max in x and in y and every padding."""
    # progress(done, total, info) is called after each of the 2 x paddings x shifts evaluations
    whole_number("--sweep-max", max_shift, 1, SIDE - 1, unit="of pixels")
    for padding in paddings:
        check_padding(padding)
    images, labels = digits.test_images[:limit], digits.test_labels[:limit].astype(np.int64)
    shifts = np.arange(-max_shift, max_shift + 1)
    counts = np.bincount(labels, minlength=10)
    # accuracy[axis][padding] -> (shifts,), per_digit[axis][padding] -> (10 digits, shifts)
    accuracy = {axis: {p: np.zeros(len(shifts)) for p in paddings} for axis in ("x", "y")}
    per_digit = {axis: {p: np.zeros((10, len(shifts))) for p in paddings} for axis in ("x", "y")}
    done, total = 0, 2 * len(paddings) * len(shifts)
    for axis in ("x", "y"):
        for column, shift in enumerate(shifts):
            dx, dy = (int(shift), 0) if axis == "x" else (0, int(shift))
            reference = None  # (images, correct) of the first padding at this shift
            for padding in paddings:
                moved = shift_images(images, dx, dy, padding)
                if reference is None:
                    correct = predict(model, as_float_images(moved)).argmax(1).numpy() == labels
                    reference = moved, correct
                else:
                    # paddings differ only on images with ink near the border (a few percent of MNIST):
                    # classify those, reuse the reference for the rest; the numbers are the same
                    differs = (moved != reference[0]).any(axis=(1, 2))
                    correct = reference[1].copy()
                    if differs.any():
                        correct[differs] = predict(model, as_float_images(moved[differs])).argmax(1).numpy() == labels[differs]
                accuracy[axis][padding][column] = correct.mean()
                per_digit[axis][padding][:, column] = np.bincount(labels, weights=correct, minlength=10) / np.maximum(counts, 1)
                done += 1
                if progress:
                    progress(done, total, f"{axis} {padding} {shift:+d}")
    return {"shifts": shifts, "paddings": list(paddings), "images": len(labels), "accuracy": accuracy,
            "edge_share": border_share(images, 1), "ring_share": border_share(images, max_shift),
            "per_digit": per_digit, "breaks": break_points(shifts, per_digit), "break_accuracy": BREAK_ACCURACY}


def border_share(images: np.ndarray, width: int) -> float:
    """Share of images (N, H, W) with ink (a nonzero pixel) within `width` pixels of the border.

    Paddings can only differ on such images: clamp from zero needs ink on the edge itself (width 1),
    reflect and wrap need ink within the shift's distance of the border."""
    if width < 1:
        return 0.0
    inner = images.copy()
    inner[:, width:-width, width:-width] = 0
    return float((inner.reshape(len(images), -1).max(1) > 0).mean())


def break_points(shifts: np.ndarray, per_digit: dict) -> dict:
    """Per axis, padding and digit: the smallest shift, toward each side, where accuracy falls below BREAK_ACCURACY."""
    breaks = {}
    for axis, by_padding in per_digit.items():
        breaks[axis] = {}
        for padding, table in by_padding.items():
            rows = []
            for digit in range(10):
                row = {"digit": digit}
                for side, order in (("negative", np.argsort(-shifts)), ("positive", np.argsort(shifts))):
                    broken = [int(shifts[c]) for c in order if table[digit, c] < BREAK_ACCURACY and
                              (shifts[c] > 0) == (side == "positive") and shifts[c] != 0]
                    row[side] = broken[0] if broken else None  # None: holds up to the largest shift tried
                rows.append(row)
            breaks[axis][padding] = rows
    return breaks


def slider_views(model: torch.nn.Module, image: np.ndarray, largest: int, padding: str) -> dict:
    """The page's slider: `image` (28, 28) in [0, 1] shifted -largest..+largest px in x, each classified."""
    shifts = list(range(-largest, largest + 1))
    views = [classify(model, shift_image(image, dx, 0, padding)) for dx in shifts]
    return {"shifts": shifts, "padding": padding, "images": [byte_pixels(v["image"]) for v in views],
            "predictions": [v["prediction"] for v in views], "probabilities": [v["probabilities"] for v in views]}


def run_shift(model: torch.nn.Module, data: Digits, options: ShiftOptions = DEFAULTS, out: str | Path | None = None,
              progress: Progress | None = None) -> dict:
    """Problem 1.3: the example shifted left and right, the slider's views (if `options.slider`), the sweep
    (if `options.sweep`) and, with `out`, OUT/shift_example.png, shift_sweep.png and shift_per_digit.png."""
    options.check()
    result = shift_experiment(model, data, options.digit, options.pixels, options.padding, options.index)
    if options.slider:
        result["slider"] = slider_views(model, result["original"]["image"], options.slider, options.padding)
    if options.sweep:
        result["sweep"] = shift_sweep(model, data, options.sweep_max, limit=options.sweep_images, progress=progress)
    result["finding"] = describe_shift(result)
    result["figures"] = [] if out is None else shift_figures(result, Path(out))
    return result


def shift_figures(result: dict, out: Path) -> list[dict]:
    """Draw the figures of `run_shift` into `out`; their records for the page."""
    digit, pixels, padding = result["digit"], result["pixels"], result["padding"]
    figures = [figure(out, draw_shift_example(result, out / "shift_example.png"),
                      f"The '{digit}' (test image {result['index']}) and its copies shifted {pixels} pixels left and "
                      f"right with {padding} padding, each with its ten probabilities.",
                      "The original and the two shifted images.")]
    if "sweep" in result:
        sweep, edge = result["sweep"], max(result["sweep"]["shifts"])
        figures += [
            figure(out, draw_shift_sweep(sweep, out / "shift_sweep.png"),
                   f"Test accuracy against the shift in x and in y for the {len(sweep['paddings'])} padding modes.",
                   f"Accuracy over {sweep['images']} test images for every shift from -{edge} to +{edge} pixels."),
            figure(out, draw_shift_per_digit(sweep, out / "shift_per_digit.png", padding=padding),
                   f"Heat map of accuracy per digit against the shift, {padding} padding.", "Which digits break first."),
        ]
    return figures
