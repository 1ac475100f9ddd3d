"""The transplant attack of `nnscope attack` (Problem 2.3, after Rosenfeld, Zemel and Tsotsos, "The
Elephant in the Room", 2018): cut a square from a correctly classified test image of another digit,
paste it over the same place of our digit, and look for pastes that change the prediction.
`run_attack` is the entry point the command, the report and a notebook share.

The search runs in batches through the incremental engine (a paste changes one square of the
input); every success it reports is then rebuilt as a plain image and checked by a full forward
pass, so a success is exactly what it says.
"""

import time
from pathlib import Path

import numpy as np
import torch

from nnscope.data import Digits, as_float_images
from nnscope.findings.attack import describe_attack
from nnscope.options.attack import AttackOptions
from nnscope.progress import Progress
from nnscope.threads import map_on_threads
from nnscope.vision.examples import pick_example, predict
from nnscope.vision.occlusion.incremental import IncrementalCNN
from nnscope.vision.occlusion.parts import INK, dilate


def transplant(image: np.ndarray, donor: np.ndarray, size: int, source_row: int, source_col: int,
               target_row: int, target_col: int) -> np.ndarray:
    """A copy of `image` ([C,] H, W) with the size x size square at (target_row, target_col) replaced by the
    donor's square at (source_row, source_col), in every channel."""
    out = image.copy()
    out[..., target_row : target_row + size, target_col : target_col + size] = \
        donor[..., source_row : source_row + size, source_col : source_col + size]
    return out


def stroke_positions(image: np.ndarray, size: int, stride: int, margin: int = 1) -> np.ndarray:
    """Top-left corners (K, 2) of the squares, on a grid of `stride`, that cover some ink of `image` (H, W)
    or lie within `margin` pixels of it: 'on and around its strokes'."""
    near = dilate(image > INK, margin)
    rows, cols = (np.arange(0, side - size + 1, stride) for side in image.shape)
    return np.array([(r, c) for r in rows for c in cols if near[r : r + size, c : c + size].any()],
                    np.int64).reshape(-1, 2)


def donor_indices(model, digits, digit: int, per_digit: int) -> np.ndarray:
    """The first `per_digit` correctly classified test images of every digit other than `digit`."""
    labels = digits.test_labels
    chosen = []
    for other in range(10):
        if other == digit:
            continue
        candidates = np.flatnonzero(labels == other)[: 20 * per_digit]
        correct = predict(model, as_float_images(digits.test_images[candidates])).argmax(1).numpy() == other
        chosen.extend(candidates[correct][:per_digit].tolist())
    return np.array(chosen, np.int64)


@torch.no_grad()
def search(model, images: np.ndarray, digit: int, donors: np.ndarray, sizes, stride: int = 1,
           batch: int = 4096) -> list[tuple]:
    """Every paste (image k, donor d, size, row, col, label) of a donor's square onto the same place
    of images[k] (K, 28, 28) that the incremental engine classifies as `label`, not `digit`.
    The batches run side by side (nnscope.threads.map_on_threads): the hits do not depend on the
    thread count."""
    engine = IncrementalCNN(model)
    base = engine.base(torch.from_numpy(images[:, None]).float())
    donor_pixels = torch.from_numpy(donors).float()  # (D, 28, 28)

    def hits_of(size: int, items: torch.Tensor) -> list[tuple]:
        k, d, r, c = items.T
        rows = r[:, None] + torch.arange(size)
        cols = c[:, None] + torch.arange(size)
        pasted = donor_pixels[d[:, None, None], rows[:, :, None], cols[:, None, :]]  # (B, size, size)
        box = torch.stack([r, r + size, c, c + size], 1)
        labels = engine.logits(base, k, box, 0.0, (size, size), pasted).argmax(1)
        return [(int(k[j]), int(d[j]), size, int(r[j]), int(c[j]), int(labels[j]))
                for j in torch.nonzero(labels != digit).flatten().tolist()]

    work = []  # (size, items (B, 4): image, donor, row, col) per batch
    for size in sizes:
        items = [(k, d, r, c) for k in range(len(images)) for r, c in stroke_positions(images[k], size, stride)
                 for d in range(len(donors))]
        items = torch.tensor(items, dtype=torch.int64).reshape(-1, 4)
        work.extend((size, items[start : start + batch]) for start in range(0, len(items), batch))
    return [hit for hits in map_on_threads(lambda job: hits_of(*job), work) for hit in hits]


def verified_successes(classify, image: np.ndarray, digit: int, hits: list[tuple], donors: np.ndarray,
                       donor_index: np.ndarray, donor_labels: np.ndarray) -> list[dict]:
    """The hits on one image rebuilt as plain images and re-classified by a full forward pass
    (`classify`: images stacked like `image` -> probabilities (N, K)); only those still not classified
    as `digit` are kept."""
    if not hits:
        return []
    adversarial = np.stack([transplant(image, donors[d], size, r, c, r, c) for _, d, size, r, c, _ in hits])
    probabilities = classify(adversarial)
    out = []
    for (_, d, size, r, c, _), picture, probs in zip(hits, adversarial, probabilities):
        if probs.argmax() == digit:
            continue
        out.append({"donor_index": int(donor_index[d]), "donor_digit": int(donor_labels[d]), "patch_size": size,
                    "source_row": r, "source_col": c, "target_row": r, "target_col": c,
                    "adversarial_image": picture, "prediction": int(probs.argmax()), "probabilities": probs})
    out.sort(key=lambda s: (s["patch_size"], -s["probabilities"][s["prediction"]]))
    return out


def success_keys(hits: list[tuple], successes: list[dict]) -> dict:
    """The successes of one image's search, the smallest patch, the labels reached, the hits the check dropped."""
    return {"successes": successes, "smallest_patch": min((s["patch_size"] for s in successes), default=None),
            "reachable_digits": sorted({s["prediction"] for s in successes}),
            "unverified_hits": len(hits) - len(successes)}


def success_rate(model, digits, digit: int, sizes, donors: np.ndarray, count: int, stride: int) -> dict:
    """Over the first `count` correctly classified test images of `digit`: the share with at least one
    success, and per patch size, with pastes on a grid of `stride` pixels."""
    candidates = np.flatnonzero(digits.test_labels == digit)
    images = as_float_images(digits.test_images[candidates])
    keep = predict(model, images).argmax(1).numpy() == digit
    chosen = candidates[keep][:count]
    pictures = images[keep][:count, 0].numpy()
    hits = search(model, pictures, digit, donors, sizes, stride)
    rate = rate_of_hits(hits, sizes, len(chosen))
    return {"images": rate.pop("images"), "indices": chosen, "stride": stride, **rate}


def rate_of_hits(hits: list[tuple], sizes, count: int) -> dict:
    """The success rate of the hits (image k, donor, size, row, col, label) over `count` images: the share
    of images with at least one, per patch size too, the smallest patch per image and the labels reached."""
    fooled = {size: set() for size in sizes}
    reached = {}  # digit -> images on which some paste reaches it
    for k, _, size, _, _, label in hits:
        fooled[size].add(k)
        reached.setdefault(label, set()).add(k)
    smallest = [min((s for s in sizes if k in fooled[s]), default=None) for k in range(count)]
    return {"images": count, "fooled": sum(s is not None for s in smallest),
            "rate": sum(s is not None for s in smallest) / max(1, count),
            "rate_by_size": {int(s): len(fooled[s]) / max(1, count) for s in sizes},
            "smallest_patch_per_image": smallest,
            "reachable_digits": {int(label): len(ks) for label, ks in sorted(reached.items())}}


def examples_to_draw(successes: list[dict], count: int = 6) -> list[dict]:
    """Up to `count` successes to draw, one per new label, taking the first of each in the given
    order (successes come sorted by patch size, then confidence: the smallest patch first)."""
    chosen, seen = [], set()
    for s in successes:
        if s["prediction"] not in seen:
            chosen.append(s)
            seen.add(s["prediction"])
    return chosen[:count]


def run_attack(model, data: Digits, options: AttackOptions = AttackOptions(), out: Path | str | None = None,
               progress: Progress | None = None) -> dict:
    """Problem 2.3 as plain data: every verified success on one image, the smallest patch, the digits
    reached, the success rate over options.images correctly classified test images of the digit, the
    examples drawn (`examples`: positions in `successes`) and the sentences; with `out`, the figure."""
    options.check()
    start = time.perf_counter()
    digit, sizes = options.digit, sorted(set(options.sizes))
    index = pick_example(model, data, digit, options.index)
    image = as_float_images(data.test_images[index : index + 1])[0, 0].numpy()
    donor_index = donor_indices(model, data, digit, options.donors)
    donors = as_float_images(data.test_images[donor_index])[:, 0].numpy()
    donor_labels = data.test_labels[donor_index]
    hits = search(model, image[None], digit, donors, sizes)
    successes = verified_successes(lambda pictures: predict(model, torch.from_numpy(pictures[:, None])).numpy(),
                                   image, digit, hits, donors, donor_index, donor_labels)
    result = {"index": index, "digit": digit, "image": image, "sizes": sizes, "donors": donor_index,
              "candidates": sum(len(stroke_positions(image, s, 1)) for s in sizes) * len(donors),
              **success_keys(hits, successes)}
    if progress is not None:
        progress(1, 2 if options.images else 1, "example image searched")
    if options.images:
        result["rate"] = success_rate(model, data, digit, sizes, donors, options.images, options.rate_stride)
        if progress is not None:
            progress(2, 2, "success rate measured")
    result["seconds"] = time.perf_counter() - start
    return finish_attack(result, donors, donor_index, options, out)


def finish_attack(result: dict, donors: np.ndarray, donor_index: np.ndarray, options: AttackOptions,
                  out: Path | str | None) -> dict:
    """The examples drawn (`examples`: positions in `successes`), the figure with `out`, the pictures
    kept (options.every_image) and the sentences, added to a searched `result`."""
    successes = result["successes"]
    examples = examples_to_draw(successes)
    result["examples"] = [successes.index(s) for s in examples]  # positions in successes
    result["figures"] = []
    if out is not None:
        # matplotlib: only when the figure is drawn
        from nnscope.report.figures_attack import draw_attack_figures

        donor_images = donors[[list(donor_index).index(s["donor_index"]) for s in examples]]
        result["figures"] = draw_attack_figures(result, examples, donor_images, Path(out))
    if not options.every_image:  # keep the pictures of the drawn examples only
        for k, success in enumerate(successes):
            if k not in result["examples"]:
                success.pop("adversarial_image")
    result["finding"] = describe_attack(result)
    return result
