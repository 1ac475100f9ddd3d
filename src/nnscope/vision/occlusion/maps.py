"""Occlusion maps: slide a patch over an image and record the class probabilities at every position
(row = vertical position of the patch's top-left corner), at the positions of `patch_starts` (Captum's
rule, the one rule everywhere).

`model_occlusion` is the one entry point for any model: it chooses the engine, all exact:
  - "cnn": nnscope's own CNN where its C loops compiled (incremental.py, `occlusion_probabilities`);
  - "traced": any model torch.fx traces (traced.py), recomputing only what the patch changes;
  - "plain": every occluded image built and run in full, in batches (`plain_occlusion_logits`).
The patch's fill is one value, one per channel, or a whole image per image (a paste of a donor's
pixels: the transplant attack). `naive_occlusion_probabilities` is the one-position-per-pass loop
every engine must equal; `occlusion_maps` derives the three maps.
"""

from dataclasses import dataclass

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.options.occlusion import SIDE, check_geometry
from nnscope.progress import Progress
from nnscope.threads import map_on_threads
from nnscope.vision.occlusion import c_loops
from nnscope.vision.occlusion.incremental import IncrementalCNN
from nnscope.vision.occlusion.spans import block_spans, changed_boxes, patch_starts
from nnscope.vision.occlusion.traced import traced_occlusion

ENGINES = ("cnn", "traced", "plain")  # what model_occlusion can be told to use (None: it chooses)
PLAIN_VALUES = 2**23  # pixel values per batch of plain passes (a few hundred images)
PASTE_ITEMS = 4096  # image-position items per call of the CNN engine when the fill is an image


def pair(value) -> tuple[int, int]:
    """8 -> (8, 8); (6, 4) -> (6, 4): a patch or stride as (height, width)."""
    values = tuple(np.atleast_1d(value).tolist())
    return int(values[0]), int(values[-1])


def occlude(image: torch.Tensor, row: int, col: int, patch, fill) -> torch.Tensor:
    """A copy of `image` (..., H, W) with the patch (a side or (h, w)) at (row, col) set to `fill`: a value,
    or an image of `image`'s shape whose pixels are pasted there."""
    (ph, pw), out = pair(patch), image.clone()
    pasted = isinstance(fill, torch.Tensor) and fill.shape[-2:] == image.shape[-2:]
    source = fill[..., row : row + ph, col : col + pw] if pasted else fill
    out[..., row : row + ph, col : col + pw] = source
    return out


@torch.no_grad()
def naive_occlusion_probabilities(model, image: torch.Tensor, patch=8, stride=1, fill=0.0) -> np.ndarray:
    """Probabilities (rows, cols, K) for one image (C, H, W), one forward pass per position: the reference
    every engine must equal. `patch`, `stride`: a side or (h, w); `fill`: a value or an image (C, H, W)."""
    (ph, pw), (sh, sw) = pair(patch), pair(stride)
    rows, cols = patch_starts(ph, sh, image.shape[-2]), patch_starts(pw, sw, image.shape[-1])
    out = None
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            probabilities = torch.softmax(model(occlude(image, row, col, (ph, pw), fill)[None]), 1)[0].cpu().numpy()
            out = np.zeros((len(rows), len(cols), len(probabilities)), np.float32) if out is None else out
            out[i, j] = probabilities
    return out


@dataclass
class Occluded:
    """The class probabilities with the patch at every position of each image, and how they were computed."""

    probabilities: np.ndarray  # (N, rows, cols, K) float32
    row_starts: list[int]  # the patch's top row at each map row
    col_starts: list[int]  # its left column at each map column
    engine: str  # which engine computed them, in words


def cnn_of(model):
    """nnscope's CNN inside a loaded model (nnscope.models.LoadedModel) when the CNN engine serves it: an
    nnscope checkpoint on raw pixels (no --mean / --std) whose C loops compiled on this machine; else None."""
    if model.format != "nnscope" or model.module.normalised:
        return None
    return model.network if c_loops.for_model(model.network.config) is not None else None


def baseline_of(fill, images: torch.Tensor) -> torch.Tensor:
    """The patch's pixels for every image (N, C, H, W): from one value, one per channel, or images."""
    value = torch.as_tensor(fill, dtype=torch.float32, device=images.device)
    if value.dim() == 1:
        value = value.reshape(-1, 1, 1)
    return torch.broadcast_to(value, images.shape)


def choose_engine(model, images: torch.Tensor, patch, stride, fill) -> str:
    """'cnn' where nnscope's CNN engine serves the model and the geometry (a square patch and stride on
    1 x 28 x 28 images); 'plain' for TorchScript, which runs outside Python where torch.fx cannot follow it;
    else 'traced' (which itself runs plain passes when the model does not trace)."""
    if model.format == "torchscript":
        return "plain"
    one_value = not isinstance(fill, torch.Tensor) and np.unique(np.atleast_1d(fill)).size == 1
    square = pair(patch)[0] == pair(patch)[1] and pair(stride)[0] == pair(stride)[1]
    cnn = cnn_of(model) is not None and square and tuple(images.shape[1:]) == (1, SIDE, SIDE)
    return "cnn" if cnn and (one_value or isinstance(fill, torch.Tensor) and fill.dim() == 4) else "traced"


def model_occlusion(model, images: torch.Tensor, patch=8, stride=1, fill=0.0, progress: Progress | None = None,
                    engine: str | None = None, positions: np.ndarray | None = None) -> Occluded:
    """The probabilities of every position of a patch (a side or (h, w)) moved by `stride` over each image
    (N, C, H, W) in [0, 1] on a loaded model (nnscope.models.LoadedModel), exactly, by the engine that
    serves it (or `engine`, one of ENGINES). `fill`: one value, one per channel, or images (N, C, H, W)
    whose pixels the patch pastes. `positions`: a (rows, cols) mask of the positions needed (the traced
    engine computes only those, leaving NaN elsewhere; the others compute all). progress(done, total, info)."""
    (ph, pw), (sh, sw) = pair(patch), pair(stride)
    engine = engine or choose_engine(model, images, patch, stride, fill)
    if engine not in ENGINES:
        raise NnscopeError(f"engine: {engine!r}; expected one of {', '.join(ENGINES)}")
    rows, cols = patch_starts(ph, sh, images.shape[-2]).tolist(), patch_starts(pw, sw, images.shape[-1]).tolist()
    if engine == "cnn":
        cnn = cnn_of(model)
        if isinstance(fill, torch.Tensor) and fill.dim() == 4:
            probabilities = pasted_probabilities(cnn, images, fill, ph, sh, progress)
        else:
            probabilities = occlusion_probabilities(cnn, images, ph, sh, float(np.atleast_1d(fill)[0]), progress=progress)
        return Occluded(probabilities, rows, cols, "nnscope's CNN engine (incremental, C loops)")
    baseline = baseline_of(fill, images)
    if engine == "plain":
        logits = plain_occlusion_logits(model.module, images, (ph, pw), (sh, sw), baseline, progress)
        words = ("full passes: the model could not be traced (TorchScript runs outside Python, where torch.fx "
                 "cannot follow it); every position ran as a full pass" if model.format == "torchscript"
                 else "plain passes (every position a full pass)")
        return Occluded(torch.softmax(logits, -1).numpy(), rows, cols, words)
    report = (lambda done, total: progress(done, total, "positions")) if progress is not None else None
    traced = traced_occlusion(model.module, images, (ph, pw), (sh, sw), baseline, progress=report, positions=positions)
    probabilities = traced.probabilities().cpu().numpy().astype(np.float32)
    layers = list(traced.windows.values())[1:]  # the first is the input's own window
    if traced.method != "incremental":
        return Occluded(probabilities, rows, cols, f"full passes: the model could not be traced ({traced.note}); "
                        "every position ran as a full pass")
    if not any(isinstance(w, tuple) for w in layers):  # traced, but its first layer already mixes every pixel
        return Occluded(probabilities, rows, cols, "full passes: no layer of the model works on a local window of "
                        "the image (its first layer already mixes every pixel), so no part of a pass can be reused; "
                        "every position ran as a full pass")
    return Occluded(probabilities, rows, cols, f"traced engine (incremental: {traced.note})")


@torch.no_grad()
def plain_occlusion_logits(module, images: torch.Tensor, patch: tuple[int, int], stride: tuple[int, int],
                           baseline: torch.Tensor, progress: Progress | None = None,
                           batch: int | None = None) -> torch.Tensor:
    """Outputs (N, rows, cols, K) of `module` on every occluded image built and run in full, `batch` images
    a pass (None: PLAIN_VALUES pixel values): the patch at each position takes the baseline's pixels there."""
    (ph, pw), (sh, sw) = patch, stride
    N, C, H, W = images.shape
    rows, cols = patch_starts(ph, sh, H), patch_starts(pw, sw, W)
    inside = torch.zeros(len(rows) * len(cols), 1, H, W, dtype=torch.bool, device=images.device)
    for k, (row, col) in enumerate((r, c) for r in rows for c in cols):
        inside[k, :, row : row + ph, col : col + pw] = True
    batch = batch or max(1, PLAIN_VALUES // (C * H * W))
    out = []
    for n in range(N):
        logits = [module(torch.where(inside[s : s + batch], baseline[n], images[n])) for s in range(0, len(inside), batch)]
        out.append(torch.cat(logits).reshape(len(rows), len(cols), -1).cpu())
        if progress is not None:
            progress(n + 1, N, "images")
    return torch.stack(out)


@torch.no_grad()
def pasted_probabilities(model, images: torch.Tensor, pasted: torch.Tensor, patch: int, stride: int,
                         progress: Progress | None = None) -> np.ndarray:
    """Probabilities (N, rows, cols, 10) of nnscope's CNN `model` with the patch at each position of image n
    (N, 1, 28, 28) taking the pixels of pasted[n] there, by the CNN engine (a paste is an occlusion whose
    fill is another image). Positions whose patch sticks out of the image paste the part inside."""
    engine = IncrementalCNN(model)
    base = engine.base(images.float())
    starts = patch_starts(patch, stride)
    count, side = len(images), images.shape[-1]
    k, i, j = (a.reshape(-1) for a in np.meshgrid(np.arange(count), np.arange(len(starts)), np.arange(len(starts)),
                                                   indexing="ij"))
    top, left = starts[i], starts[j]
    height, width = np.minimum(top + patch, side) - top, np.minimum(left + patch, side) - left
    out = np.zeros((len(k), 10), np.float32)
    work = []  # items of one pasted size (the engine takes one size per call), in batches
    for h, w in sorted(set(zip(height.tolist(), width.tolist()))):
        members = np.flatnonzero((height == h) & (width == w))
        work.extend((h, w, chunk) for chunk in np.array_split(members, -(-len(members) // PASTE_ITEMS)))
    source = pasted[:, 0].float()

    def run(job) -> None:
        h, w, chunk = job
        kk, rr, cc = torch.from_numpy(k[chunk]), torch.from_numpy(top[chunk]), torch.from_numpy(left[chunk])
        pixels = source[kk[:, None, None], (rr[:, None] + torch.arange(h))[:, :, None],
                        (cc[:, None] + torch.arange(w))[:, None, :]]
        box = np.stack([top[chunk], top[chunk] + h, left[chunk], left[chunk] + w], 1)
        out[chunk] = torch.softmax(engine.logits(base, k[chunk], box, 0.0, (h, w), pixels), 1).numpy()

    map_on_threads(run, work)
    if progress is not None:
        progress(count, count, "images")
    return out.reshape(count, len(starts), len(starts), 10)


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


def batched_occlusion_probabilities(model, images: torch.Tensor, patch: int = 8, stride: int = 1,
                                    fill: float = 0.0, batch: int | None = None) -> np.ndarray:
    """Probabilities (N, rows, cols, K) by plain batching: every occluded image built and run in full,
    `batch` images per pass (None: PLAIN_VALUES pixel values)."""
    check_geometry(patch, stride, fill)
    images = images.float()
    logits = plain_occlusion_logits(model, images, (patch, patch), (stride, stride), baseline_of(fill, images),
                                    batch=batch)
    return torch.softmax(logits, -1).numpy()


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
