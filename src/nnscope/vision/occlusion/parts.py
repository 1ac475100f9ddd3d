"""Which parts of a digit matter, read from its occlusion maps: the digit's strokes split into named
parts (loop, join, stem, ...) by the shape of its ink, and the cost of hiding each part measured.

Everything here returns plain data; the sentences are built from it in nnscope.findings.occlusion.
"""

from collections import Counter

import numpy as np

from nnscope.vision.occlusion.maps import covering_mean_at
from nnscope.vision.occlusion.spans import patch_starts

INK = 0.5  # a pixel (0..1) brighter than this is ink
STROKE = 3  # pixels: the width of a pen stroke in MNIST, about
CRITICAL = 0.5  # a position is critical where the true class's probability falls below this


def dilate(mask: np.ndarray, steps: int = 1, diagonal: bool = True) -> np.ndarray:
    """`mask` grown by `steps` pixels (8-neighbourhood, or 4 without `diagonal`)."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        if diagonal:
            grown[1:, 1:] |= out[:-1, :-1]
            grown[1:, :-1] |= out[:-1, 1:]
            grown[:-1, 1:] |= out[1:, :-1]
            grown[:-1, :-1] |= out[1:, 1:]
        out = grown
    return out


def _hole(ink: np.ndarray) -> np.ndarray:
    """Background pixels not reachable from the border (4-connected, so diagonal gaps stay closed)."""
    outside = np.zeros_like(ink)
    outside[[0, -1], :] = ~ink[[0, -1], :]
    outside[:, [0, -1]] = ~ink[:, [0, -1]]
    while True:
        grown = dilate(outside, 1, diagonal=False) & ~ink
        if (grown == outside).all():
            return ~ink & ~outside
        outside = grown


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of `mask` (all False if it is empty)."""
    best, left = np.zeros_like(mask), mask.copy()
    while left.any():
        component = np.zeros_like(mask)
        component.flat[np.flatnonzero(left)[0]] = True
        while True:
            grown = dilate(component, 1, diagonal=False) & left
            if (grown == component).all():
                break
            component = grown
        left &= ~component
        best = component if component.sum() > best.sum() else best
    return best


def digit_parts(image: np.ndarray) -> dict[str, np.ndarray]:
    """Named boolean masks (28, 28) of the ink of `image` (28, 28) in [0, 1].

    With a hole (the largest patch of background not reachable from the border): the loop (ink in the hole's bounding
    box grown by a stroke width), the join (loop pixels within 2 pixels of the rest of the stroke)
    and the rest of the stroke above, below, left or right of the loop. Without a hole: the top, middle and bottom thirds of the ink."""
    ink = image > INK
    hole = _largest_component(_hole(ink))
    if hole.sum() < 2:  # a loop left open by a gap of a pixel or two: close it by thickening the ink
        hole = dilate(_largest_component(_hole(dilate(ink, 1))), 1) & ~ink
    rows = np.arange(image.shape[0])[:, None] * np.ones_like(ink, dtype=int)
    if hole.sum() >= 2:
        rows_in, cols_in = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
        top, bottom = rows_in[0] - STROKE, rows_in[-1] + STROKE  # the loop: the hole's box plus a stroke
        left, right = cols_in[0] - STROKE, cols_in[-1] + STROKE
        cols = rows.T
        in_box = (rows >= top) & (rows <= bottom) & (cols >= left) & (cols <= right)
        ring, rest = ink & in_box, ink & ~in_box
        join = ring & dilate(rest, 2)  # where the rest of the stroke runs into the loop
        parts = {
            "stem above the loop": rest & (rows < top),
            "tail below the loop": rest & (rows > bottom),
            "stroke left of the loop": rest & (rows >= top) & (rows <= bottom) & (cols < left),
            "stroke right of the loop": rest & (rows >= top) & (rows <= bottom) & (cols > right),
            "join": join,
            "loop": ring & ~join,
        }
    else:
        ink_rows = np.flatnonzero(ink.any(1))
        cut1, cut2 = np.percentile(ink_rows, [100 / 3, 200 / 3]) if len(ink_rows) else (0, 0)
        parts = {"top": ink & (rows < cut1), "middle": ink & (rows >= cut1) & (rows < cut2),
                 "bottom": ink & (rows >= cut2)}
    return {name: mask for name, mask in parts.items() if mask.any()}


def window_counts(mask: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """How many pixels of `mask` (28, 28) each patch position hides: (rows, cols)."""
    starts = patch_starts(patch, stride, mask.shape[0])
    return window_counts_at(mask, starts, starts, (patch, patch))


def window_counts_at(mask: np.ndarray, row_starts, col_starts, patch: tuple[int, int]) -> np.ndarray:
    """How many pixels of `mask` (H, W) the (h, w) patch hides at each of row_starts x col_starts: (rows, cols)."""
    total = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    r0, c0 = np.asarray(row_starts)[:, None], np.asarray(col_starts)[None, :]
    r1, c1 = np.minimum(r0 + patch[0], mask.shape[0]), np.minimum(c0 + patch[1], mask.shape[1])  # clipped at the border
    return total[r1, c1] - total[r0, c1] - total[r1, c0] + total[r0, c0]


def which_parts_matter(image: np.ndarray, maps: dict, digit: int, patch: int, stride: int,
                       unoccluded: float) -> dict:
    """Critical and flipped positions, and per part of the digit: the share of the ink hidden by
    critical patches and the mean drop in the true class's probability when its pixels are hidden."""
    starts = patch_starts(patch, stride, image.shape[0])
    return measure_regions(digit_parts(image), maps, digit, starts, starts, (patch, patch), unoccluded)


def measure_regions(parts: dict[str, np.ndarray], maps: dict, target: int, row_starts, col_starts,
                    patch: tuple[int, int], unoccluded: float) -> dict:
    """Critical and flipped positions, and per region (boolean masks (H, W)): the share of its pixels among
    those hidden by critical patches and the mean drop in P(target) when its pixels are hidden."""
    true_map, labels = maps["true_class_probability"], maps["predicted_label"]
    critical, flipped = true_map < CRITICAL, labels != target
    shape = next(iter(parts.values())).shape if parts else (0, 0)
    drop = unoccluded - covering_mean_at(true_map, row_starts, col_starts, patch, shape)  # (H, W) per-pixel drop
    hidden = {name: float(window_counts_at(mask, row_starts, col_starts, patch)[critical].sum())
              for name, mask in parts.items()}
    total_hidden = sum(hidden.values())
    summary = {
        "positions": int(true_map.size),
        "critical_positions": int(critical.sum()),
        "flipped_positions": int(flipped.sum()),
        "flipped_to": {int(k): int(v) for k, v in sorted(Counter(labels[flipped].tolist()).items())},
        "lowest_probability": float(true_map.min()),
        "lowest_at": [int(v) for v in np.unravel_index(true_map.argmin(), true_map.shape)],
        "parts": {name: {"pixels": int(mask.sum()),
                         "hidden_share": hidden[name] / total_hidden if total_hidden else 0.0,
                         "mean_drop": float(drop[mask].mean())}
                  for name, mask in parts.items()},
        "part_masks": parts,
        "critical": critical,
        "flipped": flipped,
    }
    return summary


GRID_NAMES = {3: (("top", "middle", "bottom"), ("left", "centre", "right"))}  # named rows and columns


def grid_regions(shape: tuple[int, int], cells: int = 3) -> dict[str, np.ndarray]:
    """The image (H, W) cut into cells x cells regions of (nearly) equal size, as boolean masks named
    top-left ... bottom-right for 3 x 3 ('row r, column c' from 1 otherwise); empty regions left out."""
    height, width = shape
    rows, cols = np.linspace(0, height, cells + 1).round().astype(int), np.linspace(0, width, cells + 1).round().astype(int)
    out = {}
    for r in range(cells):
        for c in range(cells):
            if cells in GRID_NAMES:
                row_name, col_name = GRID_NAMES[cells][0][r], GRID_NAMES[cells][1][c]
                name = "centre" if (row_name, col_name) == ("middle", "centre") else f"{row_name}-{col_name}"
            else:
                name = f"row {r + 1}, column {c + 1}"
            mask = np.zeros(shape, bool)
            mask[rows[r] : rows[r + 1], cols[c] : cols[c + 1]] = True
            if mask.any():
                out[name] = mask
    return out


DIGIT_SPLIT = "digit parts"  # the split by the shape of a digit's ink (digit_parts)
DIGIT_NAMES = tuple(str(d) for d in range(10))


def ten_digits(class_names) -> bool:
    """Whether the classes are the ten digits '0' to '9' (MNIST's): the assignment's defaults apply."""
    return tuple(class_names) == DIGIT_NAMES


def regions_for(image: np.ndarray, class_names, cells: int = 3) -> tuple[str, dict[str, np.ndarray]]:
    """(split, masks): the digit parts for a grey 28 x 28 image of a model of the ten digits whose ink they
    find, else the generic cells x cells grid ('grid 3 x 3')."""
    if image.shape == (1, 28, 28) and ten_digits(class_names):
        parts = digit_parts(image[0])
        if parts:
            return DIGIT_SPLIT, parts
    return f"grid {cells} x {cells}", grid_regions(image.shape[1:], cells)


MASK_KEYS = ("part_masks", "critical", "flipped")  # per-pixel masks: drawn in the figures, left out of JSON


def regions_without_masks(regions: dict) -> dict:
    """The findings of `which_parts_matter` without its per-pixel masks, as `--json` and results.json hold them."""
    return {k: v for k, v in regions.items() if k not in MASK_KEYS}
