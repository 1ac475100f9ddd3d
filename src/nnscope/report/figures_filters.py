"""The figures of `nnscope filters`: one conv layer's filters on one diverging scale centred at zero.

The main figure of a layer shows what can be read on a page: RGB first-layer kernels in colour, a
grid of kernels for one input slice, else one row per filter and one tile per input slice, the
strongest filters and slices only when there are more (the title says so). A summarised layer also
gets the whole grid as a second figure, filters_<layer>_all.png.
"""

from pathlib import Path

import numpy as np

from nnscope.report.drawing import drawing_of, saved_figures
from nnscope.report.plotting import DIVERGING, plt, save_figure, symmetric_limit
from nnscope.report.records import figure
from nnscope.report.tiles import grid, label_grid, label_tiles, show_tiles, tile
from nnscope.vision.filters import FiltersResult

TITLE_PAD = 14  # points between a grid's title and the filter numbers above its first row


def layer_figure(name: str, weights: np.ndarray, stats: dict):
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
        tiles = rgb_grid(rgb)
        fig, ax = plt.subplots(figsize=(8, 1.4 + 1.0 * tiles.shape[0]))
        ax.imshow(np.nan_to_num(rgb_mosaic(tiles), nan=1.0), interpolation="nearest")
        ax.set_title(f"{name}: {what}, 3 x {kh} x {kw} RGB kernels in colour (grey = 0, weights scaled by "
                     f"+-{limit:.3f})", pad=TITLE_PAD)
        label_tiles(ax, filters, tiles.shape[1], kh, kw)
        ax.set_axis_off()
        return fig
    if per_group == 1:
        blocks = grid(chosen[:, 0])
        fig, ax = plt.subplots(figsize=(8, 1.6 + 1.0 * blocks.shape[0]))
        image = show_tiles(ax, tile(blocks), DIVERGING, -limit, limit)
        label_tiles(ax, filters, blocks.shape[1], kh, kw)
        kind = "depthwise: one kernel per channel" if groups > 1 else "one input channel"
        ax.set_title(f"{name}: {what} of {kh} x {kw} ({kind}; blue < 0 < red)", pad=TITLE_PAD)
    else:
        blocks = chosen[:, slices]  # (filters, slices, kh, kw)
        fig, ax = plt.subplots(figsize=(min(13, 2 + 0.3 * len(slices) * (kw + 1) / 2),
                                        min(15, 1.5 + 0.3 * len(filters) * (kh + 1) / 2)))
        image = show_tiles(ax, tile(blocks), DIVERGING, -limit, limit)
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
    return fig


def rgb_grid(kernels: np.ndarray, columns: int = 8) -> np.ndarray:
    """RGB kernels (n, h, w, 3) as tiles (rows, columns, h, w, 3), the last row padded with NaN."""
    n = len(kernels)
    columns = min(columns, n)
    padded = np.full((-(-n // columns) * columns, *kernels.shape[1:]), np.nan)
    padded[:n] = kernels
    return padded.reshape(-1, columns, *kernels.shape[1:])


def rgb_mosaic(tiles: np.ndarray) -> np.ndarray:
    """RGB tiles (R, C, h, w, 3) as one image with one-pixel NaN gaps."""
    rows, cols, h, w, _ = tiles.shape
    image = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1, 3), np.nan)
    for r in range(rows):
        for c in range(cols):
            image[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tiles[r, c]
    return image


def whole_layer_figure(name: str, weights: np.ndarray):
    """Every filter of a layer (out, in, k, k): a grid of kernels for one input channel, else one row per filter."""
    out_channels, in_channels, kh, kw = weights.shape
    limit = symmetric_limit(weights)
    if in_channels == 1:
        blocks = grid(weights[:, 0], columns=8)
        fig, ax = plt.subplots(figsize=(8, 1.6 + 1.0 * blocks.shape[0]))
        image = show_tiles(ax, tile(blocks, gap=1), DIVERGING, -limit, limit)
        label_grid(ax, blocks.shape[1], blocks.shape[0], kh)
        ax.set_xlabel(f"{out_channels} filters of {kh} x {kw}; filter number = row label + column offset")
    else:
        fig, ax = plt.subplots(figsize=(min(13, 2 + 0.22 * in_channels * (kw + 1) / 2),
                                        min(15, 1.5 + 0.22 * out_channels * (kh + 1) / 2)))
        image = show_tiles(ax, tile(weights, gap=1), DIVERGING, -limit, limit)
        step = 4 if out_channels <= 32 else 8
        ax.set_yticks([r * (kh + 1) + kh // 2 for r in range(0, out_channels, step)], range(0, out_channels, step))
        ax.set_xticks([c * (kw + 1) + kw // 2 for c in range(0, in_channels, step)], range(0, in_channels, step))
        ax.set_ylabel("output filter")
        ax.set_xlabel(f"input channel (each tile is one {kh} x {kw} slice)")
    ax.set_title(f"{name}: every filter, {out_channels} x {in_channels} x {kh} x {kw} weights (blue < 0 < red)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return fig


def draw_filters(name: str, weights: np.ndarray, path: str | Path) -> Path:
    """Every filter of one layer, saved to `path`."""
    return save_figure(whole_layer_figure(name, weights), path)


@drawing_of.register
def _(result: FiltersResult):
    name = next(iter(result.layers))
    return layer_figure(name, result.weights[name], result.layers[name])


@saved_figures.register
def _(result: FiltersResult, out: Path) -> list[dict]:
    records = []
    for name, stats in result.layers.items():
        weights, stem = result.weights[name], f"filters_{name.replace('/', '_')}"
        path = save_figure(layer_figure(name, weights, stats), out / f"{stem}.png")
        record = figure(out, path, f"Filters of {name}: {' x '.join(map(str, stats['shape']))} weights"
                        + (", drawn in colour (each kernel's RGB slices as one image)" if stats["colour"] else
                           " on one blue-white-red scale centred at zero (blue negative, red positive)"),
                        f"{name}: " + ("the strongest filters by L2 norm" if stats["summarised"] else "every filter"))
        stats["figure"] = record["file"]
        records.append(record)
        if stats["summarised"] and result.every_filter and not stats["colour"] and (stats["groups"] or 1) == 1:
            records.append(figure(out, draw_filters(name, weights, out / f"{stem}_all.png"),
                                  f"Every filter of {name}, one row per output filter and one tile per input "
                                  "channel, on the same blue-white-red scale.", f"{name}: the whole grid."))
    return records
