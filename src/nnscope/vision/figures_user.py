"""Figures of the Problem 1 analyses on the user's own model: filters, feature maps and shifts of any size.

Images are the model's (C, H, W) in [0, 1]: drawn in colour for three channels, grey for one, and
the first channel otherwise. Signed values use one blue-white-red scale centred at zero.
"""

from pathlib import Path

import numpy as np

from nnscope.report.plotting import DIVERGING, plt, save_figure, symmetric_limit

GRID_COLUMNS = 8  # kernels per row in a grid of kernels


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """Tiles (R, C, h, w[, 3]) as one image with a one-pixel NaN gap between tiles (NaN draws as background)."""
    rows, cols, h, w = tiles.shape[:4]
    extra = tiles.shape[4:]
    image = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1, *extra), np.nan)
    for r in range(rows):
        for c in range(cols):
            image[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tiles[r, c]
    return image


def as_grid(kernels: np.ndarray, columns: int = GRID_COLUMNS) -> np.ndarray:
    """Kernels (n, h, w[, 3]) as tiles (rows, columns, h, w[, 3]), the last row padded with NaN."""
    n = len(kernels)
    columns = min(columns, n)
    rows = -(-n // columns)
    padded = np.full((rows * columns, *kernels.shape[1:]), np.nan)
    padded[:n] = kernels
    return padded.reshape(rows, columns, *kernels.shape[1:])


def shown_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A (C, H, W) image in [0, 1] as imshow takes it: (H, W, 3) for RGB, else (H, W) with the grey colour map."""
    if image.shape[0] == 3:
        return np.clip(np.transpose(image, (1, 2, 0)), 0, 1), None
    return image[0], "gray"


def draw_user_filters(name: str, weights: np.ndarray, stats: dict, path: str | Path) -> Path:
    """One conv layer (out, in / groups, kh, kw): RGB kernels in colour, one input slice as a grid of kernels,
    else one row per filter and one tile per input slice of its group; only the shown filters and slices."""
    out_channels, per_group, kh, kw = weights.shape
    filters, slices = stats["shown_filters"], stats["shown_slices"]
    limit = symmetric_limit(weights)
    chosen = weights[filters]
    what = (f"strongest {len(filters)} of {out_channels} filters by L2 norm" if len(filters) < out_channels
            else f"{out_channels} filters")
    groups = stats["groups"] or 1  # None: a conv whose settings an exported program did not record, drawn as one group
    if stats["colour"]:
        rgb = 0.5 + np.transpose(chosen, (0, 2, 3, 1)) / (2 * limit)  # weight 0 -> mid grey, +-limit -> 0 / 1
        tiles = as_grid(rgb)
        fig, ax = plt.subplots(figsize=(8, 1.4 + 1.0 * tiles.shape[0]))
        shown = mosaic(tiles)
        ax.imshow(np.nan_to_num(shown, nan=1.0), interpolation="nearest")
        ax.set_title(f"{name}: {what}, 3 x {kh} x {kw} RGB kernels in colour (grey = 0, weights scaled by "
                     f"+-{limit:.3f})")
        label_tiles(ax, filters, tiles.shape[1], kh, kw)
        ax.set_axis_off()
        return save_figure(fig, path)
    if per_group == 1:
        tiles = as_grid(chosen[:, 0])
        fig, ax = plt.subplots(figsize=(8, 1.6 + 1.0 * tiles.shape[0]))
        image = ax.imshow(mosaic(tiles), cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
        label_tiles(ax, filters, tiles.shape[1], kh, kw)
        kind = "depthwise: one kernel per channel" if groups > 1 else "one input channel"
        ax.set_title(f"{name}: {what} of {kh} x {kw} ({kind}; blue < 0 < red)")
    else:
        tiles = chosen[:, slices]  # (filters, slices, kh, kw)
        fig, ax = plt.subplots(figsize=(min(13, 2 + 0.3 * len(slices) * (kw + 1) / 2),
                                        min(15, 1.5 + 0.3 * len(filters) * (kh + 1) / 2)))
        image = ax.imshow(mosaic(tiles), cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
        step = max(1, len(filters) // 16)
        per_filter = out_channels // groups
        ax.set_yticks([r * (kh + 1) + kh // 2 for r in range(0, len(filters), step)],
                      [f"{filters[r]}" + (f" (g{filters[r] // per_filter})" if groups > 1 else "")
                       for r in range(0, len(filters), step)])
        ax.set_xticks([c * (kw + 1) + kw // 2 for c in range(len(slices))], slices, rotation=90, fontsize=7)
        ax.set_ylabel("output filter" + (" (its group)" if groups > 1 else ""))
        sliced = f"strongest {len(slices)} of {per_group} input slices" if len(slices) < per_group else "every input slice"
        grouping = f"; {groups} groups, each filter sees the {per_group} channels of its group" if groups > 1 else ""
        ax.set_xlabel(f"input slice (index within the group), {sliced}{grouping}")
        in_groups = f" in {groups} groups (one row label g: its group)" if groups > 1 else ""
        ax.set_title(f"{name}: {what}, each {per_group} x {kh} x {kw}{in_groups} (blue < 0 < red)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return save_figure(fig, path)


def label_tiles(ax, numbers, columns: int, h: int, w: int) -> None:
    """Each grid tile's filter number above it."""
    for i, number in enumerate(numbers):
        r, c = divmod(i, columns)
        ax.text(c * (w + 1) + (w - 1) / 2, r * (h + 1) - 0.6, str(number), ha="center", va="bottom", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_user_shift_example(result: dict, path: str | Path) -> Path:
    """Three panels: the image shifted left, the original, shifted right; each titled with its prediction."""
    names = result["class_names"]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.6))
    for ax, key in zip(axes, ("left", "original", "right")):
        v = result[key]
        image, cmap = shown_image(v["image"])
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        shift = {"left": f"-{result['pixels']} px", "original": "unshifted", "right": f"+{result['pixels']} px"}[key]
        ax.set_title(f"{shift}: {names[v['prediction']]} (p = {v['probabilities'][v['prediction']]:.3f})", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{result['source']} shifted in x, {result['padding']} padding")
    return save_figure(fig, path)


def draw_user_shift_sweep(sweep: dict, path: str | Path) -> Path:
    """Accuracy against the shift, one panel per axis, one line per padding."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, axis in zip(axes, ("x", "y")):
        for padding in sweep["paddings"]:
            ax.plot(sweep["shifts"], 100 * np.asarray(sweep["accuracy"][axis][padding]), marker="o", label=padding)
        ax.set_title(f"shift in {axis}")
        ax.set_xlabel("shift (pixels)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[1].legend(title="padding")
    fig.suptitle(f"Accuracy over {sweep['images']} images against the shift")
    return save_figure(fig, path)


MAX_CHANNELS = 32  # channels drawn per row of feature maps; more are shown by the top-ranked (or most active)


def draw_user_feature_maps(result: dict, path: str | Path, top: int) -> Path:
    """One row per example (its image first, then its channels) and a difference row for two examples; a layer
    with more than MAX_CHANNELS channels shows the top-ranked ones (or the most active without a ranking)."""
    examples, layer = result["examples"], result["layer"]
    channels = examples[0]["feature_maps"].shape[0]
    if "channel_ranking" in result:
        picked = [r["channel"] for r in result["channel_ranking"][:MAX_CHANNELS]]
        how = "top-ranked by |Cohen's d|"
    else:
        activity = np.abs(examples[0]["feature_maps"]).mean(axis=(1, 2))
        picked = np.argsort(-activity, kind="stable")[:MAX_CHANNELS].tolist()
        how = "most active (mean |activation|)"
    if channels <= MAX_CHANNELS:
        picked, how = list(range(channels)), None
    rows = [(e["source"], e["feature_maps"][picked], e["image"]) for e in examples]
    if "difference" in result:
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
    return save_figure(fig, path)
