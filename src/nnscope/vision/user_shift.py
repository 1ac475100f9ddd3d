"""Problem 1.3 on the user's own model: one image of any C x H x W shifted left and right, and the sweep.

The image is `--image` (its label unknown: the model's prediction is the reference) or the first
correctly classified image of class `--digit` in `--data`. The sweep needs `--data`: without it,
it is skipped and the result says so.
"""

from pathlib import Path

import numpy as np

from nnscope.findings.user_shift import describe_user_shift
from nnscope.options.shift import PADDINGS, ShiftOptions
from nnscope.progress import Progress
from nnscope.report.records import figure
from nnscope.vision.figures_user import draw_user_shift_example, draw_user_shift_sweep
from nnscope.vision.shift import first_change, shift_images
from nnscope.vision.user_model import check_data_fits, pick_from_data, probabilities

NO_DATA = "no --data given: the sweep over a labelled data set was skipped"


def view(loaded, image: np.ndarray) -> dict:
    """One (C, H, W) image with its prediction and K probabilities."""
    p = probabilities(loaded, image[None])[0]
    return {"image": image, "prediction": int(p.argmax()), "probabilities": p}


def user_sweep(loaded, data, max_shift: int, limit: int | None, progress: Progress | None) -> dict:
    """Accuracy on `data` (its first `limit` images) for every shift -max..+max in x and y and every padding."""
    images, labels = data.float_images()[:limit], data.labels[:limit]
    shifts = np.arange(-max_shift, max_shift + 1)
    accuracy = {axis: {p: np.zeros(len(shifts)) for p in PADDINGS} for axis in ("x", "y")}
    classes = len(data.class_names)
    counts = np.maximum(np.bincount(labels, minlength=classes), 1)
    per_class = {axis: {p: np.zeros((classes, len(shifts))) for p in PADDINGS} for axis in ("x", "y")}
    done, total = 0, 2 * len(PADDINGS) * len(shifts)
    for axis in ("x", "y"):
        for column, shift in enumerate(shifts):
            dx, dy = (int(shift), 0) if axis == "x" else (0, int(shift))
            for padding in PADDINGS:
                correct = probabilities(loaded, shift_images(images, dx, dy, padding)).argmax(1) == labels
                accuracy[axis][padding][column] = correct.mean()
                per_class[axis][padding][:, column] = np.bincount(labels, weights=correct, minlength=classes) / counts
                done += 1
                if progress:
                    progress(done, total, f"{axis} {padding} {shift:+d}")
    return {"shifts": shifts, "paddings": list(PADDINGS), "images": len(labels), "accuracy": accuracy,
            "per_class": per_class, "class_names": list(data.class_names)}


def check_user_shift(loaded, data, image: np.ndarray | None, options: ShiftOptions) -> tuple[int, int, int]:
    """(C, H, W) of the image to shift, once the options fit it, the data and the model's classes (else one line)."""
    if data is not None:
        check_data_fits(loaded, data)
    c, h, w = image.shape if image is not None else data.input_shape
    options.check(side=min(h, w) if options.sweep and data is not None else w, classes=loaded.classes)
    return c, h, w


def run_user_shift(loaded, data=None, image: np.ndarray | None = None, options: ShiftOptions = ShiftOptions(),
                   out: str | Path | None = None, progress: Progress | None = None) -> dict:
    """The example (`image`, else class `options.digit` of `data`) shifted by `options.pixels` with
    `options.padding`, the sweep over `data` when given and wanted, and with `out` the figures."""
    c, h, w = check_user_shift(loaded, data, image, options)
    result = {"model": loaded.source, "pixels": options.pixels, "padding": options.padding,
              "image_shape": [c, h, w], "class_names": list(loaded.class_names)}
    if image is None:
        index = pick_from_data(loaded, data, options.digit, options.index, "--digit")
        image, result["index"], result["label"] = data.float_images([index])[0], index, options.digit
        result["source"] = f"image {index} of {data.source}"
    else:
        result["index"], result["label"], result["source"] = None, None, "--image"
    result["original"] = view(loaded, image)
    result["digit"] = result["label"] if result["label"] is not None else result["original"]["prediction"]
    result["left"] = view(loaded, shift_images(image, -options.pixels, 0, options.padding))
    result["right"] = view(loaded, shift_images(image, options.pixels, 0, options.padding))
    result["changed"] = {s: result[s]["prediction"] != result["original"]["prediction"] for s in ("left", "right")}
    result["first_change"] = first_change(lambda moved: probabilities(loaded, moved).argmax(1), image, options.padding,
                                          result["original"]["prediction"])
    if not options.sweep:
        result["skipped"] = "--no-sweep given: the sweep was skipped"
    elif data is None:
        result["skipped"] = NO_DATA
    else:
        result["sweep"] = user_sweep(loaded, data, options.sweep_max, options.sweep_images, progress)
    result["finding"] = describe_user_shift(result)
    result["figures"] = [] if out is None else user_shift_figures(result, Path(out))
    return result


def user_shift_figures(result: dict, out: Path) -> list[dict]:
    """OUT/shift_example.png and, with the sweep, OUT/shift_sweep.png; their records."""
    pixels, padding = result["pixels"], result["padding"]
    records = [figure(out, draw_user_shift_example(result, out / "shift_example.png"),
                      f"The image ({result['source']}) and its copies shifted {pixels} pixels left and right with "
                      f"{padding} padding, each with its prediction.", "The original and the two shifted images.")]
    if "sweep" in result:
        sweep = result["sweep"]
        records.append(figure(out, draw_user_shift_sweep(sweep, out / "shift_sweep.png"),
                              f"Accuracy over {sweep['images']} images against the shift in x and in y for the "
                              f"{len(sweep['paddings'])} padding modes.", "Accuracy against the shift."))
    return records
