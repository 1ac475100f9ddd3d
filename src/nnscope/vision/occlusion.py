"""Occlusion maps: slide a square patch of one grey value over an image and record the ten class
probabilities at every position (row = vertical position of the patch's top-left corner).

`occlusion_probabilities` computes them for many images at once, exactly, by incremental inference
(nnscope.vision.incremental) in batches of bounded size; `naive_occlusion_probabilities` is the
one-position-per-forward-pass loop it must equal; `occlusion_maps` derives the three maps.
"""

from typing import Callable

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.threads import map_on_threads
from nnscope.vision.incremental import IncrementalCNN
from nnscope.vision.windows import block_spans

SIDE = 28  # MNIST images are SIDE x SIDE pixels


def check_geometry(patch: int, stride: int, fill: float, side: int = SIDE) -> None:
    """Raise NnscopeError unless the patch fits the image, the stride is >= 1 and fill is in [0, 1]."""
    if not isinstance(patch, (int, np.integer)) or not 1 <= patch <= side:
        raise NnscopeError(f"--patch: {patch!r}; expected a whole number of pixels from 1 to {side} (the image side)")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise NnscopeError(f"--stride: {stride!r}; expected a whole number of pixels >= 1")
    if not isinstance(fill, (int, float, np.floating)) or not 0.0 <= fill <= 1.0:  # NaN fails too
        raise NnscopeError(f"--fill: {fill!r}; expected a grey value from 0 (black) to 1 (white)")


def patch_starts(patch: int, stride: int, side: int = SIDE) -> np.ndarray:
    """Top-left coordinates a patch takes along one axis: 0, stride, ... up to side - patch."""
    return np.arange(0, side - patch + 1, stride)


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


def _changed_boxes(images: torch.Tensor, patch: int, stride: int, fill: float) -> np.ndarray:
    """Per image and position, the box (top, bottom, left, right) of pixels the patch really
    changes (those not already equal to `fill`): (N, rows, cols, 4); an empty box has bottom = top.

    Vectorised over positions with sliding-window sums: row y of the square at column c holds a
    change iff some pixel in columns c .. c + patch - 1 of row y differs; the box's first changed
    row is then the first such row at or after the square's top (a running minimum from below)."""
    differs = (images[:, 0] != fill).numpy()  # (N, 28, 28)
    starts = patch_starts(patch, stride)
    side = differs.shape[-1]
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

    first_row, end_row = first_and_end(sliding_any(differs, 2), 1)  # (N, 28, cols): rows with a change
    first_col, end_col = first_and_end(sliding_any(differs, 1), 2)  # (N, rows, 28): columns with a change
    r, c = starts[:, None], starts[None, :]
    top, bottom = first_row[:, r, c], end_row[:, r + patch - 1, c]  # (N, rows, cols)
    left, right = first_col[:, r, c], end_col[:, r, c + patch - 1]
    hit = top < r + patch
    top, left = np.where(hit, top, r), np.where(hit, left, c)
    return np.stack([top, np.where(hit, bottom, top), left, np.where(hit, right, left)], -1).astype(np.int64)


@torch.no_grad()
def occlusion_probabilities(model, images: torch.Tensor, patch: int = 8, stride: int = 1, fill: float = 0.0,
                            batch: int = 16384, images_per_group: int = 64,
                            progress: Callable[[int], None] | None = None, compiled: bool = True) -> np.ndarray:
    """Probabilities (N, rows, cols, 10) of the ten classes with the patch at each position of each
    image (N, 1, 28, 28); exact (equal to the naive loop), by incremental inference.

    Positions whose patch changes the same pixels give the same image and are computed once; those
    that change nothing give the image's own probabilities. `batch` bounds the items per conv call
    and `images_per_group` the images whose activations are held at once (bounded memory);
    `progress(n)` is called after each group with the number of images done. `compiled`: False runs
    the torch loops even where the C ones (nnscope.vision.kernels) are available."""
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
            progress(len(group))
    return out


def _group_probabilities(engine: IncrementalCNN, images: torch.Tensor, patch: int, stride: int, fill: float,
                         batch: int) -> np.ndarray:
    """occlusion_probabilities for one group of images, whose base activations fit in memory."""
    base = engine.base(images)
    unoccluded = torch.softmax(base.logits, 1).numpy()  # (G, 10)
    boxes = _changed_boxes(images, patch, stride, fill)  # (G, rows, cols, 4)
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

    if len(items):  # none where no patch changes a pixel (an image of the fill value alone)
        map_on_threads(run, _batches(engine, items[:, 1:], batch))  # both cores, same numbers on any count
    flat = out.reshape(-1, 10)
    flat[np.flatnonzero(changed)] = probabilities[where.reshape(-1)]
    return out


def _batches(engine: IncrementalCNN, boxes: np.ndarray, batch: int) -> list[np.ndarray]:
    """Indices of `boxes` (B, 4) split into batches of at most `batch` whose changes span the
    same number of rows and columns in every block after the first: a batch's windows take the
    size of its largest, so this keeps the costly blocks free of padding (the first block, one
    input channel, is cheap to pad)."""
    side = SIDE
    spans = [block_spans(boxes[:, 0], boxes[:, 1], side, engine.pad, engine.pools),
             block_spans(boxes[:, 2], boxes[:, 3], side, engine.pad, engine.pools)]
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
    total, count = np.zeros((side, side)), np.zeros((side, side))
    for i, row in enumerate(starts):
        for j, col in enumerate(starts):
            total[row : row + patch, col : col + patch] += values[i, j]
            count[row : row + patch, col : col + patch] += 1
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


def save_probabilities(path, probabilities: np.ndarray, labels: np.ndarray, patch: int, stride: int,
                       fill: float, loops: str):
    """Write the maps of many images to one .npz, atomically and byte for byte reproducibly (no
    timestamps): probabilities (N, rows, cols, 10) float32, labels (N,), patch, stride, fill, loops
    ('C' or 'torch': which loops computed them; the two agree to ~1e-7), versions."""
    import io
    import json
    import zipfile

    from nnscope.fileio import atomic_write, versions

    arrays = {"probabilities": probabilities.astype(np.float32), "labels": np.asarray(labels),
              "indices": np.arange(len(labels)), "starts": patch_starts(patch, stride),
              "patch": np.int64(patch), "stride": np.int64(stride), "fill": np.float64(fill),
              "loops": np.array(loops), "versions": np.array(json.dumps(versions(), sort_keys=True))}

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            for name, value in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())

    return atomic_write(path, write)
