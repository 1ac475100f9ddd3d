"""The figure of `nnscope filters`: one layer's filters as a mosaic on one diverging scale."""

from pathlib import Path

import numpy as np

from nnscope.report.plotting import DIVERGING, plt, save_figure, symmetric_limit
from nnscope.report.tiles import grid, label_grid, show_tiles, tile


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
