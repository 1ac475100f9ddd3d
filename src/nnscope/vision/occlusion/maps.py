"""Occlusion maps: slide a square patch of one grey value over an image and record the ten class
probabilities at every position (row = vertical position of the patch's top-left corner).

`occlusion_probabilities` computes them for many images at once, exactly, by incremental inference
(incremental.py) in batches of bounded size; `naive_occlusion_probabilities` is the
one-position-per-forward-pass loop it must equal; `occlusion_maps` derives the three maps.
"""

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.options.occlusion import SIDE, check_geometry
from nnscope.progress import Progress
from nnscope.threads import map_on_threads
from nnscope.vision.occlusion.incremental import IncrementalCNN
from nnscope.vision.occlusion.spans import block_spans, changed_boxes, patch_starts


def occlude(image: torch.Tensor, row: int, col: int, patch: int, fill: float) -> torch.Tensor:
    """A copy of `image` (..., H, W) with the patch x patch square at (row, col) set to `fill`."""
    out = image.clone()
    out[..., row : row + patch, col : col + patch] = fill
    return out


@torch.no_grad()
def naive_occlusion_probabilities(model, image: torch.Tensor, patch: int = 8, stride: int = 1,
                                  fill: float = 0.0) -> np.ndarray:
    """Probabilities (rows, cols, 10) for one image (1, 28, 28), one forward pass per position: the reference."""
    check_geometry(patch, stride, fill)
    starts = patch_starts(patch, stride)
    out = np.zeros((len(starts), len(starts), 10), np.float32)
    for i, row in enumerate(starts):
        for j, col in enumerate(starts):
            logits = model(occlude(image, row, col, patch, fill)[None])
            out[i, j] = torch.softmax(logits, 1)[0].numpy()
    return out


@torch.no_grad()
def occlusion_probabilities(model, images: torch.Tensor, patch: int = 8, stride: int = 1, fill: float = 0.0,
                            batch: int = 16384, images_per_group: int = 64, progress: Progress | None = None,
                            compiled: bool = True) -> np.ndarray:
    """Probabilities (N, rows, cols, 10) of the ten classes with the patch at each position of each
    image (N, 1, 28, 28); exact (equal to the naive loop), by incremental inference.

    Positions whose patch changes the same pixels give the same image and are computed once; those
    that change nothing give the image's own probabilities. `batch` bounds the items per conv call
    and `images_per_group` the images whose activations are held at once (bounded memory);
    `progress(done, total, info)` is called after each group with the images done so far.
    `compiled`: False runs the torch loops even where the C ones (c_loops.py) are available."""
    check_geometry(patch, stride, fill)
    if images.ndim != 4 or images.shape[1:] != (1, SIDE, SIDE):
        raise NnscopeError(f"images: shape {tuple(images.shape)}; expected (N, 1, {SIDE}, {SIDE})")
    engine = IncrementalCNN(model, compiled)
    count, positions = len(images), len(patch_starts(patch, stride))
    out = np.zeros((count, positions, positions, 10), np.float32)
    for start in range(0, count, images_per_group):
        group = images[start : start + images_per_group].float()
        out[start : start + len(group)] = _group_probabilities(engine, group, patch, stride, fill, batch)
        if progress is not None:
            progress(start + len(group), count, "images")
    return out


def _group_probabilities(engine: IncrementalCNN, images: torch.Tensor, patch: int, stride: int, fill: float,
                         batch: int) -> np.ndarray:
    """occlusion_probabilities for one group of images, whose base activations fit in memory."""
    base = engine.base(images)
    unoccluded = torch.softmax(base.logits, 1).numpy()  # (G, 10)
    boxes = changed_boxes(images, patch, stride, fill)  # (G, rows, cols, 4)
    count, rows, cols = boxes.shape[:3]
    out = np.broadcast_to(unoccluded[:, None, None], (count, rows, cols, 10)).copy()
    # one work item per distinct (image, changed box): equal boxes give equal occluded images
    keys = np.concatenate([np.repeat(np.arange(count), rows * cols)[:, None], boxes.reshape(-1, 4)], 1)
    changed = keys[:, 2] > keys[:, 1]
    # each key as one number (coordinates are 0 .. SIDE): a 1-D unique is far faster than a row unique
    code = keys[changed] @ (SIDE + 1) ** np.arange(4, -1, -1)
    _, first, where = np.unique(code, return_index=True, return_inverse=True)
    items = keys[changed][first]
    probabilities = np.zeros((len(items), 10), np.float32)

    def run(chunk: np.ndarray) -> None:
        logits = engine.logits(base, items[chunk, 0], items[chunk, 1:], fill)
        probabilities[chunk] = torch.softmax(logits, 1).numpy()

    map_on_threads(run, _batches(engine, items[:, 1:], batch))  # both cores, same numbers on any count
    flat = out.reshape(-1, 10)
    flat[np.flatnonzero(changed)] = probabilities[where.reshape(-1)]
    return out


def _batches(engine: IncrementalCNN, boxes: np.ndarray, batch: int) -> list[np.ndarray]:
    """Indices of `boxes` (B, 4) split into batches of at most `batch` whose changes span the
    same number of rows and columns in every block after the first: a batch's windows take the
    size of its largest, so this keeps the costly blocks free of padding (the first block, one
    input channel, is cheap to pad)."""
    if not len(boxes):  # no position changes a pixel (a patch of the background's grey)
        return []
    spans = [block_spans(boxes[:, 0], boxes[:, 1], SIDE, engine.pad, engine.pools),
             block_spans(boxes[:, 2], boxes[:, 3], SIDE, engine.pad, engine.pools)]
    lengths = np.stack([hi - lo for axis in spans for lo, hi, _ in axis[1:]], 1)  # (B, 2 * (blocks - 1))
    # rows sorted by their lengths (a stable lexsort, far faster than a row-wise unique); a group
    # begins where a row differs from the one before
    order = np.lexsort(lengths.T[::-1])
    ordered = lengths[order]
    starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(1)])
    out = []
    for members in np.split(order, starts[1:]):
        out.extend(np.array_split(members, -(-len(members) // batch)))
    return out


@torch.no_grad()
def batched_occlusion_probabilities(model, images: torch.Tensor, patch: int = 8, stride: int = 1,
                                    fill: float = 0.0, batch: int = 2048) -> np.ndarray:
    """Probabilities (N, rows, cols, 10) by plain batching: every occluded image built and run in full."""
    check_geometry(patch, stride, fill)
    starts = patch_starts(patch, stride)
    mask = torch.zeros(len(starts) ** 2, 1, SIDE, SIDE, dtype=torch.bool)  # (P, 1, 28, 28): True under the patch
    for k, (row, col) in enumerate((r, c) for r in starts for c in starts):
        mask[k, :, row : row + patch, col : col + patch] = True
    per_image = []
    for image in images.float():
        probs = [torch.softmax(model(torch.where(mask[s : s + batch], fill, image)), 1)
                 for s in range(0, len(mask), batch)]
        per_image.append(torch.cat(probs).reshape(len(starts), len(starts), 10))
    return torch.stack(per_image).numpy()


def occlusion_maps(probabilities: np.ndarray, true_class: int | np.ndarray) -> dict[str, np.ndarray]:
    """The three maps from probabilities (..., rows, cols, 10): the true class's probability, the
    highest probability of the ten, and the predicted label; `true_class` per image or one for all."""
    true_class = np.asarray(true_class)
    index = np.broadcast_to(true_class.reshape(true_class.shape + (1, 1, 1)), probabilities.shape[:-1] + (1,))
    return {
        "true_class_probability": np.take_along_axis(probabilities, index, -1)[..., 0],
        "max_probability": probabilities.max(-1),
        "predicted_label": probabilities.argmax(-1).astype(np.int64),
    }


def covering_mean(values: np.ndarray, patch: int, stride: int, side: int = SIDE) -> np.ndarray:
    """Per pixel (side, side), the mean of a map (rows, cols) over the patch positions covering it
    (0 where none does)."""
    starts = patch_starts(patch, stride, side)
    return covering_mean_at(values, starts, starts, (patch, patch), (side, side))


def covering_mean_at(values: np.ndarray, row_starts, col_starts, patch: tuple[int, int],
                     shape: tuple[int, int]) -> np.ndarray:
    """Per pixel (H, W), the mean of a map (rows, cols) over the (h, w) patches at row_starts x col_starts
    covering it (0 where none does); a patch sticking out of the image covers the part inside."""
    (ph, pw), total, count = patch, np.zeros(shape), np.zeros(shape)
    for i, row in enumerate(row_starts):
        for j, col in enumerate(col_starts):
            total[row : row + ph, col : col + pw] += values[i, j]
            count[row : row + ph, col : col + pw] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def captum_attribution(probabilities: np.ndarray, target: int, unoccluded: float, patch: int, stride: int,
                       side: int = SIDE) -> np.ndarray:
    """Captum's Occlusion attribution (side, side) derived from our probabilities (rows, cols, 10):
    per pixel, the mean over the patches covering it of (unoccluded - occluded) probability of `target`."""
    starts = patch_starts(patch, stride, side)
    covered = np.zeros((side, side), bool)
    for row in starts:
        for col in starts:
            covered[row : row + patch, col : col + patch] = True
    return np.where(covered, unoccluded - covering_mean(probabilities[..., target], patch, stride, side), 0.0)
