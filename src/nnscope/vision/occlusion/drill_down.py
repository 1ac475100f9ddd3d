"""Drill-down occlusion: the exact map where it matters, interpolated elsewhere.

At 224 x 224 even exact incremental occlusion takes seconds per image at a fine stride. Most of
a classifier's map is flat: a patch over the background changes little. `drill_down_occlusion`
computes the exact outputs at a coarse subset of the positions (every `coarse`-th row and column of
the fine grid, and the last ones, so the coarse map spans the image), interpolates the change of the
target output from it to every fine position, and computes exactly the top `share` of the fine
positions by that change, with their neighbours (the 3 x 3 positions around each). Every other
position's outputs are interpolated (bilinear over the coarse grid). Computed values are the
engine's exact values; `computed` says which they are. share=1 computes every position.
"""

import numpy as np
import torch
from torch import nn

from nnscope.errors import NnscopeError
from nnscope.vision.occlusion.traced import TracedOcclusion, patch_starts, traced_occlusion


def coarse_indices(count: int, step: int) -> np.ndarray:
    """Every step-th index of 0..count-1, and the last one."""
    return np.unique(np.append(np.arange(0, count, step), count - 1))


def interpolation_matrix(count: int, known: np.ndarray) -> torch.Tensor:
    """(count, len(known)) weights that interpolate linearly between values at the indices `known` (sorted)."""
    weights = np.zeros((count, len(known)))
    for i in range(count):
        j = int(np.searchsorted(known, i, side="right")) - 1
        if j >= len(known) - 1:
            weights[i, -1] = 1.0
            continue
        a, b = known[j], known[j + 1]
        t = (i - a) / (b - a)
        weights[i, j], weights[i, j + 1] = 1 - t, t
    return torch.as_tensor(weights, dtype=torch.float32)


def _changes(outputs: torch.Tensor, unoccluded: torch.Tensor, target) -> torch.Tensor:
    """|change| of the target output (rows, cols) for one image's outputs (rows, cols, ...)."""
    flat = outputs.reshape(*outputs.shape[:2], -1)
    base = unoccluded.reshape(-1)
    index = int(base.argmax()) if target is None else int(target)
    return (flat[..., index] - base[index]).abs()


def drill_down_occlusion(model: nn.Module, images: torch.Tensor, patch: tuple[int, int], stride: tuple[int, int],
                         share: float, fill: float | torch.Tensor = 0.0, target=None, coarse: int = 2,
                         batch: int = 256) -> TracedOcclusion:
    """traced_occlusion's result at the fine `stride`, computed exactly only at a coarse grid and
    at the top `share` (0 < share <= 1) of positions by the interpolated change of the target
    output (an int or one per image; None: each image's largest output) with their neighbours,
    interpolated elsewhere; `computed` (N, rows, cols) marks the exact positions."""
    if not (isinstance(share, (int, float)) and 0 < share <= 1):
        raise NnscopeError(f"drill_down: {share!r}; expected a share of positions in (0, 1]")
    if not (isinstance(coarse, int) and coarse >= 2):
        raise NnscopeError(f"coarse: {coarse!r}; expected an int >= 2")
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise NnscopeError(f"images: expected a float tensor (N, C, H, W), got {getattr(images, 'shape', type(images))}")
    targets = list(target) if isinstance(target, (list, tuple, torch.Tensor)) else [target] * len(images)
    fills = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
    per_image = fills.dim() == 4 and len(fills) == len(images) and len(images) > 1
    results = []
    for n, image in enumerate(images):
        fill_n = fills[n:n + 1] if per_image else fill
        results.append(_one_image(model, image[None], patch, stride, share, fill_n, targets[n], coarse, batch))
    first = results[0]
    return TracedOcclusion(torch.cat([r.outputs for r in results]), torch.cat([r.unoccluded for r in results]),
                           first.row_starts, first.col_starts, first.method, first.note, first.windows,
                           np.concatenate([r.computed[None] for r in results]))


def _one_image(model, image, patch, stride, share, fill, target, coarse, batch) -> TracedOcclusion:
    rows, cols = len(patch_starts(image.shape[2], patch[0], stride[0])), len(patch_starts(image.shape[3], patch[1], stride[1]))
    if share >= 1:
        exact = traced_occlusion(model, image, patch, stride, fill, batch)
        exact.computed = np.ones((rows, cols), dtype=bool)
        return exact
    known_r, known_c = coarse_indices(rows, coarse), coarse_indices(cols, coarse)
    mask = np.zeros((rows, cols), dtype=bool)
    mask[np.ix_(known_r, known_c)] = True
    first = traced_occlusion(model, image, patch, stride, fill, batch, positions=mask)
    on_grid = first.outputs[0][np.ix_(known_r, known_c)].to(torch.float32)  # (r', c', ...)
    A_r, A_c = (interpolation_matrix(n, k).to(on_grid.device) for n, k in ((rows, known_r), (cols, known_c)))
    filled = torch.einsum("ia,jb,ab...->ij...", A_r, A_c, on_grid.flatten(2)).reshape(rows, cols, *on_grid.shape[2:])
    score = _changes(filled, first.unoccluded[0], target).cpu().numpy()
    wanted = np.zeros_like(mask)
    top = max(1, int(round(share * rows * cols)))
    wanted.reshape(-1)[np.argsort(-score.reshape(-1), kind="stable")[:top]] = True
    grown = wanted.copy()  # and their neighbours
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            shifted = np.zeros_like(wanted)
            shifted[max(0, dr):rows + min(0, dr), max(0, dc):cols + min(0, dc)] = \
                wanted[max(0, -dr):rows - max(0, dr), max(0, -dc):cols - max(0, dc)]
            grown |= shifted
    extra = grown & ~mask
    outputs = filled.to(first.outputs.dtype)
    on = torch.as_tensor(mask, device=outputs.device)
    outputs[on] = first.outputs[0][on]
    if extra.any():
        second = traced_occlusion(model, image, patch, stride, fill, batch, positions=extra)
        on = torch.as_tensor(extra, device=outputs.device)
        outputs[on] = second.outputs[0][on]
    first.outputs, first.computed = outputs[None], mask | extra
    return first
