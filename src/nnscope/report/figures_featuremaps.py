"""The figures of `nnscope featuremaps`: both examples' maps, the top channels' mean maps, the ablation."""

from pathlib import Path

import numpy as np

from nnscope.report.plotting import DIVERGING, SEQUENTIAL, plt, save_figure, symmetric_limit
from nnscope.report.tiles import grid, label_grid, show_tiles, tile


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


def pair_names(analysis: dict) -> tuple[str, str]:
    """The two compared classes as the figures name them: the digits, or the class names of a user's model."""
    names = analysis.get("class_names")
    return tuple(str(k) if names is None else names[k] for k in analysis["pair"])


def draw_top_channels(analysis: dict, path: str | Path, count: int = 6) -> Path:
    """For the channels that best separate the two classes: the mean map of each class and their difference
    (any H x W); `analysis` holds pair, counts, layer, channel_ranking, mean_maps (and class_names for a user's model)."""
    a, b = pair_names(analysis)
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
    both = "both digits" if analysis.get("class_names") is None else "both classes"
    fig.colorbar(mean_image, ax=axes[:, 1].tolist(), shrink=0.6, label=f"mean activation ({both})")
    fig.colorbar(difference_image, ax=axes[:, 2].tolist(), shrink=0.6, label="difference of means")
    return save_figure(fig, path)


def draw_ablation(analysis: dict, path: str | Path) -> Path:
    """Margin and accuracy with the top-k ranked channels ablated against k random channels, one row per fill; a
    study with a `method` (a user's model) edits the layer's output by a forward hook instead of after a ReLU."""
    a, b = pair_names(analysis)
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
            where = "(forward hook)" if "method" in ablation else "after the ReLU"
            ax.set_xlabel(f"k, channels of {analysis['layer']} {how} {where}")
            ax.set_ylabel(label)
            ax.set_xticks(ks)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        row[1].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.2%}"))
        row[0].set_title(f"channels {how}", fontsize=9)
        if ablation["fill"] == "mean" and analysis.get("feeds_output_layer"):
            # the linear layer comes next: a mean fill adds one fixed vector to all logits, so its mean margin is
            # zeroing's; said here so that the repeated curve is not taken for a plotting error
            row[0].set_title(f"channels {how}: {analysis['layer']} feeds the linear output layer, so this adds one "
                             f"fixed vector to every image's logits;\nthe '{a}'s gain what the '{b}'s lose, and the "
                             f"mean margin is zeroing's to within {analysis['mean_vs_zero_margin']:.0e}", fontsize=8)
    images = "test images" if analysis.get("class_names") is None else "images"
    fig.suptitle(f"Ablation on the {studies[0]['images']} {images} of '{a}' and '{b}'", fontsize=10)
    return save_figure(fig, path)
