"""Figures of Problem 1 (filters, feature maps, shifts): drawing only, from the dicts nnscope.vision returns."""

from pathlib import Path

import numpy as np

from nnscope.report.plotting import DIVERGING, SEQUENTIAL, plt, save_figure, symmetric_limit

GAP_COLOUR = "0.55"  # grey lines between tiles, distinct from the white of zero on the diverging scale


def tile(blocks: np.ndarray, gap: int = 1) -> np.ndarray:
    """Blocks (R, C, h, w) laid out as one (R*(h+gap)-gap, C*(w+gap)-gap) array with NaN gaps."""
    rows, cols, h, w = blocks.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = blocks[r, c]
    return out


def grid(maps: np.ndarray, columns: int = 8) -> np.ndarray:
    """Maps (N, h, w) as blocks (rows, columns, h, w), padded with NaN maps to fill the last row."""
    n, h, w = maps.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    padded = np.full((rows * columns, h, w), np.nan)
    padded[:n] = maps
    return padded.reshape(rows, columns, h, w)


def show_tiles(ax, mosaic: np.ndarray, cmap: str, vmin: float, vmax: float):
    """imshow of a mosaic with grey gaps and no ticks; returns the image for a colour bar."""
    colours = plt.get_cmap(cmap).with_extremes(bad=GAP_COLOUR)
    image = ax.imshow(mosaic, cmap=colours, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def draw_filters(name: str, weights: np.ndarray, path: str | Path) -> Path:
    """One layer's filters (out, in, k, k): a grid of kernels for one input channel, else one row per filter."""
    out_channels, in_channels, k, _ = weights.shape
    limit = symmetric_limit(weights)
    if in_channels == 1:
        blocks = grid(weights[:, 0], columns=8)
        mosaic = tile(blocks, gap=1)
        fig, ax = plt.subplots(figsize=(8, 1.6 + 1.0 * mosaic.shape[0] / (k + 1)))
        image = show_tiles(ax, mosaic, DIVERGING, -limit, limit)
        label_grid(ax, blocks.shape[1], blocks.shape[0], k)
        ax.set_xlabel(f"{out_channels} filters of {k} x {k}; filter number = row label + column offset")
    else:
        mosaic = tile(weights, gap=1)  # row r: filter r, column c: its slice over input channel c
        fig, ax = plt.subplots(figsize=(min(13, 2 + 0.22 * in_channels * (k + 1) / 2),
                                        min(15, 1.5 + 0.22 * out_channels * (k + 1) / 2)))
        image = show_tiles(ax, mosaic, DIVERGING, -limit, limit)
        step = 4 if out_channels <= 32 else 8
        ax.set_yticks([r * (k + 1) + k // 2 for r in range(0, out_channels, step)], range(0, out_channels, step))
        ax.set_xticks([c * (k + 1) + k // 2 for c in range(0, in_channels, step)], range(0, in_channels, step))
        ax.set_ylabel("output filter")
        ax.set_xlabel(f"input channel (each tile is one {k} x {k} slice)")
    ax.set_title(f"{name}: {out_channels} x {in_channels} x {k} x {k} weights (blue < 0 < red)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return save_figure(fig, path)


def label_grid(ax, columns: int, rows: int, side: int) -> None:
    """Ticks that number a grid of maps: column c of the row labelled r is channel r + c."""
    ax.set_xticks([c * (side + 1) + side // 2 for c in range(columns)], [f"+{c}" for c in range(columns)], fontsize=7)
    ax.set_yticks([r * (side + 1) + side // 2 for r in range(rows)], [str(r * columns) for r in range(rows)], fontsize=7)
    ax.tick_params(length=0)


def draw_feature_maps(comparison: dict, path: str | Path) -> Path:
    """Both examples' maps of every channel on one scale, their inputs, and the difference on a diverging scale."""
    first, second = comparison["examples"]
    maps = [first["feature_maps"], second["feature_maps"]]
    signed = min(m.min() for m in maps) < 0
    limit, difference_limit = symmetric_limit(*maps), symmetric_limit(comparison["difference"])
    cmap, vmin = (DIVERGING, -limit) if signed else (SEQUENTIAL, 0.0)
    blocks = [grid(m) for m in maps] + [grid(comparison["difference"])]
    rows, columns, side = blocks[0].shape[:3]
    fig = plt.figure(figsize=(15, 2.8 + 0.75 * rows), constrained_layout=True)
    spec = fig.add_gridspec(2, 3, height_ratios=[2.0, 0.75 * rows])
    for column, example in enumerate((first, second)):
        ax = fig.add_subplot(spec[0, column])
        ax.imshow(example["image"], cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"input '{example['digit']}': test image {example['index']}, predicted {example['prediction']} "
                     f"(p = {example['probabilities'][example['prediction']]:.3f})", fontsize=9)
    axes = [fig.add_subplot(spec[1, c]) for c in range(3)]
    titles = (f"'{first['digit']}'", f"'{second['digit']}'", f"'{first['digit']}' minus '{second['digit']}'")
    for ax, block, title in zip(axes, blocks, titles):
        if ax is axes[2]:
            image = show_tiles(ax, tile(block), DIVERGING, -difference_limit, difference_limit)
        else:
            shared = show_tiles(ax, tile(block), cmap, vmin, limit)
        label_grid(ax, columns, rows, side)
        ax.set_title(f"{title}: {comparison['layer']}, {maps[0].shape[0]} channels of {side} x {side}", fontsize=9)
    fig.colorbar(shared, ax=axes[:2], shrink=0.9, label=f"{comparison['layer']} activation (one scale for both)")
    fig.colorbar(image, ax=axes[2], shrink=0.9, label="difference")
    fig.suptitle("Feature maps; channel number = row label + column offset", fontsize=10)
    return save_figure(fig, path)


def draw_top_channels(analysis: dict, path: str | Path, count: int = 6) -> Path:
    """For the channels that best separate the two digits: the mean map of each digit and their difference."""
    a, b = analysis["pair"]
    rows = analysis["channel_ranking"][:count]
    means = [np.stack([m[r["channel"]] for r in rows]) for m in analysis["mean_maps"]]  # (count, H, W) per digit
    differences = means[0] - means[1]
    signed = min(m.min() for m in means) < 0
    limit, difference_limit = symmetric_limit(*means), symmetric_limit(differences)
    cmap, vmin = (DIVERGING, -limit) if signed else (SEQUENTIAL, 0.0)
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.0 * len(rows) + 0.8), squeeze=False, constrained_layout=True)
    for i, row in enumerate(rows):
        for j, (data, title) in enumerate(((means[0][i], f"mean '{a}'"), (means[1][i], f"mean '{b}'"),
                                           (differences[i], f"'{a}' - '{b}'"))):
            ax = axes[i, j]
            image = (ax.imshow(data, cmap=cmap, vmin=vmin, vmax=limit) if j < 2 else
                     ax.imshow(data, cmap=DIVERGING, vmin=-difference_limit, vmax=difference_limit))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{title}" + (f"\nchannel {row['channel']}, d = {row['effect_size']:+.2f}" if j == 0 else ""),
                         fontsize=9)
            if j == 1:
                mean_image = image
            if j == 2:
                difference_image = image
    fig.suptitle(f"{analysis['layer']}: channels ranked by |Cohen's d|, means over {analysis['counts'][0]} '{a}'s "
                 f"and {analysis['counts'][1]} '{b}'s", fontsize=10)
    fig.colorbar(mean_image, ax=axes[:, 1].tolist(), shrink=0.6, label="mean activation (both digits)")
    fig.colorbar(difference_image, ax=axes[:, 2].tolist(), shrink=0.6, label="difference of means")
    return save_figure(fig, path)


def draw_ablation(analysis: dict, path: str | Path) -> Path:
    """Margin and accuracy with the top-k ranked channels ablated against k random channels, one row per fill."""
    a, b = analysis["pair"]
    studies = [analysis[key] for key in ("ablation", "mean_ablation") if analysis.get(key)]
    fig, axes = plt.subplots(len(studies), 2, figsize=(10, 3.6 * len(studies)), squeeze=False, sharey="col",
                             constrained_layout=True)  # one scale per column, so the fills compare at a glance
    for row, ablation in zip(axes, studies):
        ks = [0] + [r["k"] for r in ablation["by_k"]]
        base, how = ablation["baseline"], {"zero": "zeroed", "mean": "set to their mean map"}[ablation["fill"]]
        for ax, key, label in ((row[0], "margin", f"mean '{a}' vs '{b}' logit margin"), (row[1], "accuracy", "accuracy")):
            top = [base[key]] + [r["top"][key] for r in ablation["by_k"]]
            random = [base[key]] + [r[f"random_{key}"] for r in ablation["by_k"]]
            ax.plot(ks, top, "o-", color="tab:red", label=f"top-k channels by |d| {how}")
            spread = [0] + [r["random_margin_std"] for r in ablation["by_k"]] if key == "margin" else None
            ax.errorbar(ks, random, yerr=spread, fmt="s--", color="tab:blue", capsize=3,
                        label=f"k random channels {how} (mean" + (" ± sd" if spread else "") + f" of {ablation['draws']})")
            ax.set_xlabel(f"k, channels of {analysis['layer']} {how} after the ReLU")
            ax.set_ylabel(label)
            ax.set_xticks(ks)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        row[1].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.1%}"))
    fig.suptitle(f"Ablation on the {studies[0]['images']} test images of '{a}' and '{b}'", fontsize=10)
    return save_figure(fig, path)


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
