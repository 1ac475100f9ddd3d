"""The figures of `nnscope shift`: the example and its shifted copies, the sweep, the sweep per digit."""

from pathlib import Path

import numpy as np

from nnscope.report.plotting import SEQUENTIAL, plt, save_figure


def draw_shift_example(experiment: dict, path: str | Path) -> Path:
    """The original and the two shifted images, each with its ten class probabilities."""
    fig, axes = plt.subplots(2, 3, figsize=(10, 6), height_ratios=[3, 2])
    pixels, padding = experiment["pixels"], experiment["padding"]
    for column, (key, title) in enumerate((("left", f"{pixels} px left"), ("original", "original"),
                                           ("right", f"{pixels} px right"))):
        view = experiment[key]
        top = view["prediction"]
        axes[0, column].imshow(view["image"], cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_axis_off()
        if key != "original" and pixels:  # mark the columns the padding filled in
            edge = 27.5 - pixels if key == "left" else pixels - 0.5
            axes[0, column].axvline(edge, color="tab:orange", linestyle="--", linewidth=1)
        axes[0, column].set_title(f"{title}: predicted {top} (p = {view['probabilities'][top]:.3f})", fontsize=10)
        colours = ["tab:red" if c == top else "tab:gray" for c in range(10)]
        axes[1, column].bar(range(10), view["probabilities"], color=colours)
        axes[1, column].set_xticks(range(10))
        axes[1, column].set_ylim(0, 1)
        axes[1, column].set_xlabel("class")
    axes[1, 0].set_ylabel("probability")
    fig.suptitle(f"Test image {experiment['index']} (a '{experiment['digit']}') shifted with {padding} padding "
                 "(dashed: the edge of the filled-in columns)", fontsize=11)
    return save_figure(fig, path)


def draw_shift_sweep(sweep: dict, path: str | Path) -> Path:
    """Test accuracy per padding mode and shift, in x and in y, as annotated heat maps."""
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
        fig.colorbar(image, ax=ax, label="test accuracy")
    axes[0].set_title(f"Accuracy on {sweep['images']} test images shifted by whole pixels")
    return save_figure(fig, path)


def draw_shift_per_digit(sweep: dict, path: str | Path, padding: str = "clamp") -> Path:
    """Per-digit test accuracy for every shift in x and in y with one padding mode."""
    shifts = sweep["shifts"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), constrained_layout=True)
    for ax, axis in zip(axes, ("x", "y")):
        table = sweep["per_digit"][axis][padding]  # (10, shifts)
        image = ax.imshow(table, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
        for (r, c), value in np.ndenumerate(table):
            ax.text(c, r, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.6 else "white")
        ax.set_xticks(range(len(shifts)), [f"{s:+d}" for s in shifts])
        ax.set_yticks(range(10))
        ax.set_xlabel(f"shift in {axis}, pixels")
        ax.set_ylabel("true digit")
        ax.set_title(f"accuracy (%) per digit, shift in {axis}, {padding} padding", fontsize=10)
    fig.colorbar(image, ax=axes.tolist(), label="accuracy")
    return save_figure(fig, path)
