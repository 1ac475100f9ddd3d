"""Where a patch changes the input (`changed_boxes`), and where that change travels through the CNN:
the exact span of changed values per layer (`block_spans`).

Along each axis a change is a half-open span [lo, hi) of rows (or columns). Through a 'same' conv
of kernel k it grows by p = k // 2 on each side, clipped to the map; through a 2x2 max pool it
becomes the pool cells holding a changed value (floor division; a map of odd side drops its last
row, and a change there vanishes). Incremental inference recomputes, per block, a window that
covers this span and nothing far beyond it; the spans are computed from the pixels that really
change, so a patch hiding three ink pixels costs far less than one hiding 64.
"""

import numpy as np
import torch

from nnscope.options.occlusion import SIDE


def patch_starts(patch: int, stride: int, side: int = SIDE) -> np.ndarray:
    """Top-left coordinates a patch takes along one axis, Captum's rule (the one rule of every engine,
    command and page): 0, stride, ... until the patch has covered the last pixel; the last patch may
    stick out of the image (it covers the part inside)."""
    return np.arange(-(-(side - patch) // stride) + 1) * stride


def block_spans(lo: np.ndarray, hi: np.ndarray, side: int, pad: int, pools) -> list[tuple]:
    """Per block, the span (lo, hi, side) of its output that differs from the unoccluded one, for
    input spans [lo, hi) (B,) along one axis of a map of `side` pixels; an empty span has hi == lo."""
    spans = []
    empty = hi <= lo
    for pool in pools:
        lo, hi = np.maximum(lo - pad, 0), np.minimum(hi + pad, side)  # conv outputs that read a change
        if pool:  # the cells holding them; the last row of an odd side belongs to no cell
            lo, hi, side = lo // 2, np.minimum((hi - 1) // 2 + 1, side // 2), side // 2
            empty = empty | (hi <= lo)
        hi = np.where(empty, lo, hi)
        spans.append((lo, hi, side))
    return spans


def window_starts(lo: np.ndarray, size: int, side: int) -> np.ndarray:
    """Starts of windows of `size` (one size for the batch) covering spans that begin at `lo` (B,)
    and fit in it, moved inside the map [0, side) where they would stick out."""
    return np.clip(lo, 0, side - size)


def sizes(spans: list[tuple]) -> list[int]:
    """Per block, the one window size a batch needs: its longest span, at least 1."""
    return [max(1, int((hi - lo).max(initial=0))) for lo, hi, _ in spans]


def changed_boxes(images: torch.Tensor, patch: int, stride: int, fill: float) -> np.ndarray:
    """Per image and position, the box (top, bottom, left, right) of pixels the patch really
    changes (those not already equal to `fill`): (N, rows, cols, 4); an empty box has bottom = top.

    Vectorised over positions with sliding-window sums: row y of the square at column c holds a
    change iff some pixel in columns c .. c + patch - 1 of row y differs; the box's first changed
    row is then the first such row at or after the square's top (a running minimum from below)."""
    side = images.shape[-1]
    starts = patch_starts(patch, stride, side)
    # a patch sticking out of the image changes nothing outside it: pixels beyond the border never differ
    overhang = max(0, int(starts[-1]) + patch - side)
    differs = np.pad((images[:, 0] != fill).numpy(), ((0, 0), (0, overhang), (0, overhang)))  # (N, side', side')
    side += overhang
    lines = np.arange(side)

    def sliding_any(x: np.ndarray, axis: int) -> np.ndarray:  # any() over `patch` consecutive entries
        total = np.cumsum(x, axis, dtype=np.int32)
        total = np.concatenate([np.zeros_like(total.take([0], axis)), total], axis)
        return (total.take(np.arange(patch, side + 1), axis) - total.take(np.arange(side - patch + 1), axis)) > 0

    def first_and_end(hit: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Per entry along `axis`: the first hit at or after it, and one past the last hit at or before it."""
        shape = [1, 1, 1]
        shape[axis] = side
        index = lines.reshape(shape)
        first = np.flip(np.minimum.accumulate(np.flip(np.where(hit, index, side), axis), axis), axis)
        end = np.maximum.accumulate(np.where(hit, index, -1), axis) + 1
        return first, end

    first_row, end_row = first_and_end(sliding_any(differs, 2), 1)  # (N, side, cols): rows with a change
    first_col, end_col = first_and_end(sliding_any(differs, 1), 2)  # (N, rows, side): columns with a change
    r, c = starts[:, None], starts[None, :]
    top, bottom = first_row[:, r, c], end_row[:, r + patch - 1, c]  # (N, rows, cols)
    left, right = first_col[:, r, c], end_col[:, r, c + patch - 1]
    hit = top < r + patch
    top, left = np.where(hit, top, r), np.where(hit, left, c)
    return np.stack([top, np.where(hit, bottom, top), left, np.where(hit, right, left)], -1).astype(np.int64)
