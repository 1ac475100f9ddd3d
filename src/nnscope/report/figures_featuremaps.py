"""The figures of `nnscope featuremaps`: both examples' maps, the top channels' mean maps, the ablation."""

from pathlib import Path

import numpy as np

from nnscope.report.drawing import drawing_of, saved_figures
from nnscope.report.plotting import DIVERGING, SEQUENTIAL, plt, save_figure, symmetric_limit
from nnscope.report.records import figure
from nnscope.report.tiles import grid, label_grid, show_tiles, shown_image, tile
from nnscope.vision.featuremaps import FeatureMapsResult

GRID_CHANNELS = 64  # channels drawn as a grid per example; a layer with more shows its top-ranked ones in rows


def feature_maps_figure(comparison: dict):
    """The examples' maps: for two examples of at most GRID_CHANNELS channels, every channel of both on one scale,
    their inputs, and the difference on a diverging scale; else one row per example of the top channels."""
    if len(comparison["examples"]) != 2 or comparison["examples"][0]["feature_maps"].shape[0] > GRID_CHANNELS:
        return many_feature_maps_figure(comparison)
    names = comparison["class_names"]
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
        image, cmap_in = shown_image(np.asarray(example["image"]))
        ax.imshow(image, cmap=cmap_in, vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"input '{names[example['label']]}': {example['source']}, predicted "
                     f"'{names[example['prediction']]}' (p = {example['probabilities'][example['prediction']]:.3f})",
                     fontsize=9)
    axes = [fig.add_subplot(spec[1, c]) for c in range(3)]
    a, b = names[first["label"]], names[second["label"]]
    titles = (f"'{a}'", f"'{b}'", f"'{a}' minus '{b}'")
    for ax, block, title in zip(axes, blocks, titles):
        if ax is axes[2]:
            image = show_tiles(ax, tile(block), DIVERGING, -difference_limit, difference_limit)
        else:
            shared = show_tiles(ax, tile(block), cmap, vmin, limit)
        label_grid(ax, columns, rows, side)
        ax.set_title(f"{title}: {comparison['layer']}, {maps[0].shape[0]} channels of {side} x {block.shape[3]}",
                     fontsize=9)
    fig.colorbar(shared, ax=axes[:2], shrink=0.9, label=f"{comparison['layer']} activation (one scale for both)")
    fig.colorbar(image, ax=axes[2], shrink=0.9, label="difference")
    fig.suptitle("Feature maps; channel number = row label + column offset", fontsize=10)
    return fig


def pair_names(analysis: dict) -> tuple[str, str]:
    """The two compared classes by their names."""
    return tuple(analysis["class_names"][k] for k in analysis["pair"])


def top_channels_figure(analysis: dict, count: int = 6):
    """For the channels that best separate the two classes: the mean map of each class and their difference
    (any H x W); `analysis` holds pair, counts, layer, channel_ranking, mean_maps and class_names."""
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
    fig.suptitle(f"{analysis['layer']}: channels ranked by |Cohen's d|, means over {analysis['counts'][0]} '{a}' "
                 f"and {analysis['counts'][1]} '{b}' images", fontsize=10)
    fig.colorbar(mean_image, ax=axes[:, 1].tolist(), shrink=0.6, label="mean activation (both classes)")
    fig.colorbar(difference_image, ax=axes[:, 2].tolist(), shrink=0.6, label="difference of means")
    return fig


def ablation_figure(analysis: dict):
    """Margin and accuracy with the top-k ranked channels ablated against k random channels, one row per fill,
    each against the unablated value (a dotted line: the accuracy axis is zoomed, not from 0)."""
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
            ax.axhline(base[key], color="0.4", linestyle=":", linewidth=1, label=f"unablated ({base[key]:.4g})"
                       if key == "margin" else f"unablated ({base[key]:.2%})")
            ax.set_xlabel(f"k, channels of {analysis['layer']} {how} in {analysis['ablated_at']}'s output")
            ax.set_ylabel(label if key == "margin" else "accuracy (axis zoomed: it does not start at 0)")
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
    fig.suptitle(f"Ablation on the {studies[0]['images']} images of '{a}' and '{b}'", fontsize=10)
    return fig


def draw_feature_maps(result: dict, path: str | Path) -> Path:
    """The examples' maps saved to `path`."""
    return save_figure(feature_maps_figure(result), path)


def draw_top_channels(analysis: dict, path: str | Path, count: int = 6) -> Path:
    """The top channels' mean maps saved to `path`."""
    return save_figure(top_channels_figure(analysis, count), path)


def draw_ablation(analysis: dict, path: str | Path) -> Path:
    """The ablation figure saved to `path`."""
    return save_figure(ablation_figure(analysis), path)


@drawing_of.register
def _(result: FeatureMapsResult):
    return feature_maps_figure(result.as_dict())


@saved_figures.register
def _(result: FeatureMapsResult, out: Path) -> list[dict]:
    r, layer = result.as_dict(), result.layer
    prefix = out / f"featuremaps_{layer.replace('/', '_')}"
    sources = " and ".join(e["source"] for e in result.examples)
    records = [figure(out, draw_feature_maps(r, f"{prefix}.png"),
                      f"The {layer} channels of {sources}" + (", and their difference" if result.difference is not None
                                                              else "") + ", on one colour scale.",
                      f"{layer} feature maps of {sources}.")]
    if result.channel_ranking is None:
        return records
    a, b = pair_names(r)
    top = min(result.top, len(result.channel_ranking))
    how = ("set to their mean map (bottom row; it moves every image's logits by one fixed vector, as "
           f"{result.ablated_at} feeds the linear output layer directly)" if result.feeds_output_layer
           else "set to their mean map (bottom row)")
    return records + [
        figure(out, draw_top_channels(r, f"{prefix}_top.png", top),
               f"Mean maps over the '{a}' and the '{b}' images of the {top} {layer} channels with the largest effect "
               "size, and their difference.", "The channels that separate the two classes most."),
        figure(out, draw_ablation(r, f"{prefix}_ablation.png"),
               f"Logit margin and accuracy when the top-k ranked channels are zeroed (top row) or {how}, against k "
               "random channels.", "Ablation: the ranked channels against random ones, zeroed and set to their mean map."),
    ]


MAX_CHANNELS = 32  # channels drawn per row of feature maps; more are shown by the top-ranked (or most active)


def many_feature_maps_figure(result: dict):
    """One row per example (its image first, then its channels) and a difference row for two examples; a layer
    with more than MAX_CHANNELS channels shows the top-ranked ones (or the most active without a ranking)."""
    examples, layer = result["examples"], result["layer"]
    channels = examples[0]["feature_maps"].shape[0]
    if result.get("channel_ranking"):
        picked = [r["channel"] for r in result["channel_ranking"][:MAX_CHANNELS]]
        how = "top-ranked by |Cohen's d|"
    else:
        activity = np.abs(examples[0]["feature_maps"]).mean(axis=(1, 2))
        picked = np.argsort(-activity, kind="stable")[:MAX_CHANNELS].tolist()
        how = "most active (mean |activation|)"
    if channels <= MAX_CHANNELS:
        picked, how = list(range(channels)), None
    rows = [(e["source"], e["feature_maps"][picked], e["image"]) for e in examples]
    if result.get("difference") is not None:
        rows.append(("difference", result["difference"][picked], None))
    limit = symmetric_limit(*[r[1] for r in rows])
    fig, axes = plt.subplots(len(rows), len(picked) + 1, figsize=(1.1 * (len(picked) + 1), 1.3 * len(rows) + 0.8),
                             squeeze=False)
    image = None
    for r, (label, maps, source) in enumerate(rows):
        if source is not None:
            shown, cmap = shown_image(source)
            axes[r, 0].imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        axes[r, 0].set_title(label, fontsize=6)
        for c, channel in enumerate(picked):
            image = axes[r, c + 1].imshow(maps[c], cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
            if r == 0:
                axes[r, c + 1].set_title(f"ch {channel}", fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    shown_what = f"{len(picked)} of {channels} channels, {how}" if how else f"all {channels} channels"
    fig.suptitle(f"{layer}: {shown_what}, one colour scale (blue < 0 < red)")
    fig.colorbar(image, ax=axes, shrink=0.6, label="activation")
    return fig
