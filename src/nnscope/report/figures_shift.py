"""The figures of `nnscope shift`: the example and its shifted copies, the sweep, the sweep per class."""

from pathlib import Path

import numpy as np

from nnscope.report.drawing import drawing_of, saved_figures
from nnscope.report.plotting import SEQUENTIAL, plt, save_figure
from nnscope.report.records import figure
from nnscope.report.tiles import shown_image
from nnscope.vision.shift import ShiftResult

MAX_BARS = 20  # classes drawn as probability bars; more are summarised by the top ones


def example_figure(result: dict):
    """The original and the two shifted images, each with its class probabilities (the top ones for many classes)."""
    names, pixels, padding = result["class_names"], result["pixels"], result["padding"]
    fig, axes = plt.subplots(2, 3, figsize=(10, 6), height_ratios=[3, 2])
    for column, (key, title) in enumerate((("left", f"{pixels} px left"), ("original", "original"),
                                           ("right", f"{pixels} px right"))):
        view = result[key]
        top, p = view["prediction"], np.asarray(view["probabilities"])
        image, cmap = shown_image(np.asarray(view["image"]))
        axes[0, column].imshow(image, cmap=cmap, vmin=0, vmax=1)
        axes[0, column].set_axis_off()
        if key != "original" and pixels:  # mark the columns the padding filled in
            width = image.shape[1]
            edge = width - 0.5 - pixels if key == "left" else pixels - 0.5
            axes[0, column].axvline(edge, color="tab:orange", linestyle="--", linewidth=1)
        axes[0, column].set_title(f"{title}: predicted {names[top]} (p = {p[top]:.3f})", fontsize=10)
        shown = sorted(np.argsort(-p, kind="stable")[:MAX_BARS].tolist()) if len(p) > MAX_BARS else list(range(len(p)))
        axes[1, column].bar(range(len(shown)), p[shown], color=["tab:red" if c == top else "tab:gray" for c in shown])
        axes[1, column].set_xticks(range(len(shown)), [names[c] for c in shown],
                                   rotation=0 if max(len(names[c]) for c in shown) <= 2 else 90, fontsize=8)
        axes[1, column].set_ylim(0, 1)
        axes[1, column].set_xlabel("class")
    axes[1, 0].set_ylabel("probability")
    label = f" (a '{names[result['digit']]}')" if result["label"] is not None else ""
    fig.suptitle(f"{result['source'][0].upper()}{result['source'][1:]}{label} shifted with {padding} padding "
                 "(dashed: the edge of the filled-in columns)", fontsize=11)
    return fig


def draw_shift_example(result: dict, path: str | Path) -> Path:
    """The example figure saved to `path`."""
    return save_figure(example_figure(result), path)


def draw_shift_sweep(sweep: dict, path: str | Path) -> Path:
    """Accuracy per padding mode and shift, in x and in y, as annotated heat maps."""
    shifts, paddings = sweep["shifts"], sweep["paddings"]
    fig, axes = plt.subplots(2, 1, figsize=(11, 1.6 + 1.3 * len(paddings)), constrained_layout=True)
    for ax, axis, direction in zip(axes, ("x", "y"), ("left (-) / right (+)", "up (-) / down (+)")):
        table = np.stack([sweep["accuracy"][axis][p] for p in paddings])  # (paddings, shifts)
        image = ax.imshow(table, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
        for (r, c), value in np.ndenumerate(table):
            ax.text(c, r, f"{value:.0%}", ha="center", va="center", fontsize=8, color="black" if value > 0.6 else "white")
        ax.set_xticks(range(len(shifts)), [f"{s:+d}" for s in shifts])
        ax.set_yticks(range(len(paddings)), paddings)
        ax.set_xlabel(f"shift in {axis}, pixels {direction}")
        fig.colorbar(image, ax=ax, label="accuracy")
    axes[0].set_title(f"Accuracy on {sweep['images']} images shifted by whole pixels")
    return save_figure(fig, path)


def draw_shift_per_digit(sweep: dict, path: str | Path, padding: str = "clamp") -> Path:
    """Accuracy per class for every shift in x and in y with one padding mode."""
    shifts, names = sweep["shifts"], sweep["class_names"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), constrained_layout=True)
    for ax, axis in zip(axes, ("x", "y")):
        table = np.asarray(sweep["per_digit"][axis][padding])  # (classes, shifts)
        image = ax.imshow(table, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
        for (r, c), value in np.ndenumerate(table):
            ax.text(c, r, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.6 else "white")
        ax.set_xticks(range(len(shifts)), [f"{s:+d}" for s in shifts])
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel(f"shift in {axis}, pixels")
        ax.set_ylabel("true class")
        ax.set_title(f"accuracy (%) per class, shift in {axis}, {padding} padding", fontsize=10)
    fig.colorbar(image, ax=axes.tolist(), label="accuracy")
    return save_figure(fig, path)


@drawing_of.register
def _(result: ShiftResult):
    return example_figure(result.as_dict())


@saved_figures.register
def _(result: ShiftResult, out: Path) -> list[dict]:
    r = result.as_dict()
    label = f" (a '{result.class_names[result.digit]}')" if result.label is not None else ""
    records = [figure(out, draw_shift_example(r, out / "shift_example.png"),
                      f"{result.source[0].upper()}{result.source[1:]}{label} and its copies shifted {result.pixels} pixels left and "
                      f"right with {result.padding} padding, each with its class probabilities.",
                      "The original and the two shifted images.")]
    if result.sweep is not None:
        sweep, edge = result.sweep, max(result.sweep["shifts"])
        records += [
            figure(out, draw_shift_sweep(sweep, out / "shift_sweep.png"),
                   f"Accuracy against the shift in x and in y for the {len(sweep['paddings'])} padding modes.",
                   f"Accuracy over {sweep['images']} images for every shift from -{edge} to +{edge} pixels."),
            figure(out, draw_shift_per_digit(sweep, out / "shift_per_digit.png", padding=result.padding),
                   f"Heat map of accuracy per class against the shift, {result.padding} padding.",
                   "Which classes break first."),
        ]
    return records
