"""The transplant attack of `nnscope attack` (Problem 2.3) on any model: squares cut from correctly
classified images of the other classes of `--data` pasted over the same place of one image of any
C x H x W (`--image`, else a pick from the data), and the success rate over the data's images of its class.

Where the pastes go: on a grey image with dark background and some bright ink (an MNIST-like digit),
on and around the ink as `run_attack` does; on any other image (RGB, a light background), at every
position of the whole grid. The result says which (`positions`).

The search runs plain forward passes through the model in batches; every hit is then rebuilt as a
plain image and re-classified by a full forward pass (vision.attack.verified_successes), so a success
is exactly what it says.
"""

import time
from pathlib import Path

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.labelled_data import LabelledImages
from nnscope.options.attack import AttackOptions
from nnscope.progress import Progress
from nnscope.vision.attack import finish_attack, rate_of_hits, stroke_positions, success_keys, verified_successes
from nnscope.vision.occlusion.parts import INK
from nnscope.vision.user_model import check_data_fits, probabilities

NEAR_INK = "on and around the ink"
WHOLE_GRID = "at every position of the whole grid"
BATCH_VALUES = 2**23  # pixel values per batch of pasted images (a batch of 512 at most)


def positions_rule(image: np.ndarray) -> str:
    """NEAR_INK for a grey (1, H, W) image with some ink (pixels > INK) covering less than half of it, else WHOLE_GRID."""
    if image.shape[0] != 1:
        return WHOLE_GRID
    share = float((image[0] > INK).mean())
    return NEAR_INK if 0 < share < 0.5 else WHOLE_GRID


def paste_positions(image: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Top-left corners (P, 2) of the size x size squares on a grid of `stride` where `positions_rule` puts them."""
    if positions_rule(image) == NEAR_INK:
        return stroke_positions(image[0], size, stride)
    rows, cols = (np.arange(0, side - size + 1, stride) for side in image.shape[1:])
    return np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2).astype(np.int64)


def paste_items(images: np.ndarray, donors: int, size: int, stride: int) -> np.ndarray:
    """(image k, donor d, row, col) of every paste of one size: per image, per position, every donor."""
    blocks = []
    for k, image in enumerate(images):
        at = paste_positions(image, size, stride)
        where = np.repeat(np.arange(len(at)), donors)
        blocks.append(np.column_stack([np.full(len(where), k), np.tile(np.arange(donors), len(at)), at[where]]))
    return np.concatenate(blocks).astype(np.int64) if blocks else np.zeros((0, 4), np.int64)


def pasted_batch(images: torch.Tensor, donors: torch.Tensor, size: int, items: torch.Tensor) -> torch.Tensor:
    """The pasted images (B, C, H, W) of items (B, 4): image k with donor d's square at (row, col) in every channel."""
    k, d, r, c = items.T
    span = torch.arange(size, device=images.device)
    batch = torch.arange(len(items), device=images.device)[:, None, None, None]
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    rows, cols = (r[:, None] + span)[:, None, :, None], (c[:, None] + span)[:, None, None, :]
    out = images[k]  # a copy: advanced indexing
    out[batch, channels, rows, cols] = donors[d[:, None, None, None], channels, rows, cols]
    return out


@torch.no_grad()
def search_any_model(loaded, images: np.ndarray, label: int, donors: np.ndarray, sizes, stride: int = 1,
                     batch: int | None = None) -> list[tuple]:
    """Every paste (image k, donor d, size, row, col, new label) of a donor's square onto the same place of
    images[k] (N, C, H, W) that the model classifies as another class than `label`: batches of plain
    forward passes through loaded.module."""
    batch = batch or max(1, min(512, BATCH_VALUES // int(np.prod(images.shape[1:]))))
    pictures = torch.from_numpy(np.ascontiguousarray(images, np.float32)).to(loaded.device)
    donor_pixels = torch.from_numpy(np.ascontiguousarray(donors, np.float32)).to(loaded.device)
    hits = []
    for size in sizes:
        items = torch.from_numpy(paste_items(images, len(donors), size, stride))
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            labels = loaded.module(pasted_batch(pictures, donor_pixels, size, chunk.to(loaded.device))).argmax(1).cpu()
            hits.extend((int(k), int(d), size, int(r), int(c), int(labels[j]))
                        for j in torch.nonzero(labels != label).flatten().tolist() for k, d, r, c in [chunk[j].tolist()])
    return hits


def donor_indices(data: LabelledImages, correct: np.ndarray, label: int, per_class: int) -> np.ndarray:
    """Indices into `data` of the first `per_class` correctly classified images of every class but `label`."""
    chosen = [np.flatnonzero(correct & (data.labels == other))[:per_class]
              for other in range(len(data.class_names)) if other != label]
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)


def pick_image(loaded, data: LabelledImages, correct: np.ndarray, options: AttackOptions) -> int:
    """Index into `data` of the attacked image: options.index (checked: in range, of class options.digit when
    given, correctly classified), else the first correctly classified image (of class options.digit when given)."""
    names = loaded.class_names
    if options.index is not None:
        index = options.index
        if not 0 <= index < len(data.labels):
            raise NnscopeError(f"--index: {index} is outside {data.source} ({len(data.labels)} images); "
                               f"expected 0 to {len(data.labels) - 1}")
        label = int(data.labels[index])
        if options.digit is not None and label != options.digit:
            raise NnscopeError(f"--index: image {index} of {data.source} is a '{names[label]}', "
                               f"expected a '{names[options.digit]}' (--digit {options.digit})")
        if not correct[index]:
            raise NnscopeError(f"--index: image {index} of {data.source} (a '{names[label]}') is classified as "
                               "another class; pick a correctly classified one")
        return index
    chosen = correct if options.digit is None else correct & (data.labels == options.digit)
    if not chosen.any():
        which = "" if options.digit is None else f" of class '{names[options.digit]}'"
        raise NnscopeError(f"--digit: the model classifies no image{which} of {data.source} correctly")
    return int(np.flatnonzero(chosen)[0])


def run_user_attack(loaded, data: LabelledImages | None, image: np.ndarray | torch.Tensor | None = None,
                    options: AttackOptions = AttackOptions(), out: Path | str | None = None,
                    progress: Progress | None = None, image_name: str = "--image") -> dict:
    """Problem 2.3 on any loaded model (nnscope.models.LoadedModel): every verified success on `image`
    (C, H, W) in [0, 1] (its class: options.digit, else the model's prediction) or on the image of `data`
    that options.index / options.digit picks, with donors from `data`; the success rate over options.images
    correctly classified images of the class in `data`; the sentences and, with `out`, the figure.
    Keys as run_attack's, plus model, class_names, source, image_shape [C, H, W], positions."""
    if data is None:
        raise NnscopeError("--data: the attack needs a labelled data set for its donors (and the success rate); "
                           "give --data DIR")
    options.check(side=10**9, classes=loaded.classes)  # the sizes once the image is known, below
    check_data_fits(loaded, data)
    start = time.perf_counter()
    correct = probabilities(loaded, data.float_images()).argmax(1) == data.labels
    if image is None:
        index = pick_image(loaded, data, correct, options)
        image, label, source = data.float_images([index])[0], int(data.labels[index]), f"image {index} of {data.source}"
    else:
        image = np.ascontiguousarray(torch.as_tensor(image).cpu().numpy(), np.float32)
        index, source = None, str(image_name)
        if tuple(image.shape) != tuple(data.input_shape):  # a donor's square goes to the same place of the image
            raise NnscopeError(f"--image: {image_name} is {' x '.join(map(str, image.shape))}; the donors of "
                               f"{data.source} are {' x '.join(map(str, data.input_shape))} and a transplant pastes "
                               "a square at the place it was cut from: give an image of the data's size")
        predicted = int(probabilities(loaded, image[None])[0].argmax())
        label = predicted if options.digit is None else options.digit
        if predicted != label:
            raise NnscopeError(f"--digit: {image_name} is classified as '{loaded.class_names[predicted]}', not "
                               f"'{loaded.class_names[label]}'; the attack starts from a correctly classified image")
    c, h, w = image.shape
    options.check(side=min(h, w), classes=loaded.classes, image=f"the {c} x {h} x {w} image")
    if label >= len(data.class_names):
        raise NnscopeError(f"--data: {data.source} has no class {label} ('{loaded.class_names[label]}') for the "
                           "success rate and the donors' classes")
    sizes = sorted(set(options.sizes))
    donor_index = donor_indices(data, correct, label, options.donors)
    if not len(donor_index):
        raise NnscopeError(f"--data: the model classifies no image of another class than '{loaded.class_names[label]}' "
                           f"in {data.source} correctly: no donors")
    donors, donor_labels = data.float_images(donor_index), data.labels[donor_index]
    hits = search_any_model(loaded, image[None], label, donors, sizes)
    successes = verified_successes(lambda pictures: probabilities(loaded, pictures), image, label, hits, donors,
                                   donor_index, donor_labels)
    result = {"index": index, "digit": label, "label": label, "source": source, "model": loaded.source,
              "class_names": list(loaded.class_names), "image_shape": [c, h, w], "image": image, "sizes": sizes,
              "positions": positions_rule(image), "donors": donor_index, "donors_per_class": options.donors,
              "candidates": sum(len(paste_positions(image, s, 1)) for s in sizes) * len(donors),
              **success_keys(hits, successes)}
    if progress is not None:
        progress(1, 2 if options.images else 1, "example image searched")
    if options.images:
        chosen = np.flatnonzero(correct & (data.labels == label))[: options.images]
        pictures = data.float_images(chosen)
        rate_hits = search_any_model(loaded, pictures, label, donors, sizes, options.rate_stride)
        rate = rate_of_hits(rate_hits, sizes, len(chosen))
        result["rate"] = {"images": rate.pop("images"), "indices": chosen, "stride": options.rate_stride,
                          "positions": sorted({positions_rule(p) for p in pictures}), **rate}
        if progress is not None:
            progress(2, 2, "success rate measured")
    else:
        result["rate_skipped"] = "The success rate over many images is skipped: --images 0."
    result["seconds"] = time.perf_counter() - start
    return finish_attack(result, donors, donor_index, options, out)
