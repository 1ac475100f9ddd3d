"""Where a change to the input travels through the CNN: the exact span of changed values per layer.

Along each axis a change is a half-open span [lo, hi) of rows (or columns). Through a 'same' conv
of kernel k it grows by p = k // 2 on each side, clipped to the map; through a 2x2 max pool it
becomes the pool cells holding a changed value (floor division; a map of odd side drops its last
row, and a change there vanishes). Incremental inference recomputes, per block, a window that
covers this span and nothing far beyond it; the spans are computed from the pixels that really
change, so a patch hiding three ink pixels costs far less than one hiding 64.
"""

import numpy as np


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
