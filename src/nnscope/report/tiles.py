"""Mosaics of small maps (filters, feature maps) for imshow: tiles with grey gaps, numbered grids."""

import numpy as np

from nnscope.report.plotting import plt

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


def label_grid(ax, columns: int, rows: int, side: int) -> None:
    """Ticks that number a grid of maps: column c of the row labelled r is channel r + c."""
    ax.set_xticks([c * (side + 1) + side // 2 for c in range(columns)], [f"+{c}" for c in range(columns)], fontsize=7)
    ax.set_yticks([r * (side + 1) + side // 2 for r in range(rows)], [str(r * columns) for r in range(rows)], fontsize=7)
    ax.tick_params(length=0)


def shown_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A (C, H, W) image in [0, 1] as imshow takes it: (H, W, 3) for RGB, else (H, W) with the grey colour map."""
    if image.ndim == 2:
        return image, "gray"
    if image.shape[0] == 3:
        return np.clip(np.transpose(image, (1, 2, 0)), 0, 1), None
    return image[0], "gray"


def label_tiles(ax, numbers, columns: int, h: int, w: int) -> None:
    """Each grid tile's filter number above it."""
    for i, number in enumerate(numbers):
        r, c = divmod(i, columns)
        ax.text(c * (w + 1) + (w - 1) / 2, r * (h + 1) - 0.6, str(number), ha="center", va="bottom", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
