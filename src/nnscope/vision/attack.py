"""The transplant attack (Problem 2.3, after Rosenfeld, Zemel and Tsotsos, "The Elephant in the Room", 2018)
on any model: cut a square from a correctly classified image of another class, paste it over the same place
of the attacked image, and look for pastes that change the prediction; then the success rate over many
images of the class. `attack_analysis` (drawn by `nnscope.analyses.run_attack`) is the entry point of
`nnscope attack`, the report and notebooks.

A paste is an occlusion whose fill is the donor's image: the search runs through the occlusion engine
(maps.model_occlusion: nnscope's CNN engine, the traced engine, or plain passes, whichever serves the
model), one call per image, patch size and all donors at once. Every success it reports is then rebuilt
as a plain image and re-classified by a full forward pass, so a success is exactly what it says.

Where the pastes go: on a grey image with a dark background and some bright ink (a digit), on and around
the ink; on any other image (RGB, a light background), at every position of the grid. The result says which.
"""

import dataclasses
import time
from typing import ClassVar

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.findings.attack import describe_attack
from nnscope.labelled_data import LabelledImages
from nnscope.options.attack import AttackOptions
from nnscope.options.occlusion import MNIST_DIGIT
from nnscope.progress import Progress
from nnscope.results import Result
from nnscope.vision.occlusion.aggregate import grey, predict_probabilities
from nnscope.vision.occlusion.maps import model_occlusion
from nnscope.vision.occlusion.parts import INK, dilate, ten_digits
from nnscope.vision.occlusion.spans import patch_starts

NEAR_INK = "on and around the ink"
WHOLE_GRID = "at every position of the whole grid"
CHUNK = 256  # images predicted at once while looking for correctly classified ones


def transplant(image: np.ndarray, donor: np.ndarray, size: int, source_row: int, source_col: int,
               target_row: int, target_col: int) -> np.ndarray:
    """A copy of `image` ([C,] H, W) with the size x size square at (target_row, target_col) replaced by the
    donor's square at (source_row, source_col), in every channel."""
    out = image.copy()
    out[..., target_row : target_row + size, target_col : target_col + size] = \
        donor[..., source_row : source_row + size, source_col : source_col + size]
    return out


def positions_rule(image: np.ndarray) -> str:
    """NEAR_INK for a grey (1, H, W) image with some ink (pixels > INK) covering less than half of it, else WHOLE_GRID."""
    if image.shape[0] != 1:
        return WHOLE_GRID
    share = float((image[0] > INK).mean())
    return NEAR_INK if 0 < share < 0.5 else WHOLE_GRID


def paste_mask(image: np.ndarray, size: int, stride: int, margin: int = 1) -> np.ndarray:
    """Which positions (rows, cols) of the size x size squares on a grid of `stride` (patch_starts' rule) get
    pastes: for NEAR_INK those covering some ink of `image` (C, H, W) or lying within `margin` pixels of it."""
    rows, cols = (patch_starts(size, stride, side) for side in image.shape[1:])
    if positions_rule(image) == WHOLE_GRID:
        return np.ones((len(rows), len(cols)), bool)
    near = dilate(image[0] > INK, margin)
    return np.array([[near[r : r + size, c : c + size].any() for c in cols] for r in rows], bool).reshape(len(rows), len(cols))


def search(model, images: np.ndarray, label: int, donors: np.ndarray, sizes, stride: int = 1,
           progress: Progress | None = None, what: str = "pastes") -> list[tuple]:
    """Every paste (image k, donor d, size, row, col, new label) of a donor's square onto the same place of
    images[k] (K, C, H, W) that the occlusion engine classifies as another class than `label`: per image
    and size, one occlusion of the image repeated once per donor with the donors as the fill.
    progress(pastes done, pastes in all, `what` and the images per second)."""
    donor_pixels = torch.from_numpy(np.ascontiguousarray(donors, np.float32)).to(model.device)
    masks = {(k, size): paste_mask(image, size, stride) for k, image in enumerate(images) for size in sizes}
    total, done, hits, start = sum(int(m.sum()) for m in masks.values()) * len(donors), 0, [], time.perf_counter()
    for size in sizes:
        for k, image in enumerate(images):
            repeated = torch.from_numpy(np.ascontiguousarray(image, np.float32)).to(model.device).expand_as(donor_pixels)
            occluded = model_occlusion(model, repeated.contiguous(), size, stride, donor_pixels,
                                       positions=masks[k, size])
            labels = occluded.probabilities.argmax(-1)  # (donors, rows, cols)
            d, i, j = np.nonzero((labels != label) & masks[k, size])
            order = np.lexsort((d, j, i))  # position by position, every donor: the order pastes are listed in
            hits.extend((k, int(d[n]), size, occluded.row_starts[i[n]], occluded.col_starts[j[n]], int(labels[d[n], i[n], j[n]]))
                        for n in order)
            done += int(masks[k, size].sum()) * len(donors)
            if progress is not None:  # an image here is one pasted image: a paste
                progress(done, total, f"{what}, {done / max(time.perf_counter() - start, 1e-9):,.0f} images/s")
    return hits


def verified_successes(model, image: np.ndarray, label: int, hits: list[tuple], donors: np.ndarray,
                       donor_index: np.ndarray, donor_labels: np.ndarray) -> list[dict]:
    """The hits on one image (C, H, W) rebuilt as plain images and re-classified by a full forward pass; only
    those still not classified as `label` are kept, smallest patch first, then the most confident."""
    if not hits:
        return []
    adversarial = np.stack([transplant(image, donors[d], size, r, c, r, c) for _, d, size, r, c, _ in hits])
    probabilities = predict_probabilities(model, adversarial)
    out = []
    for (_, d, size, r, c, _), picture, probs in zip(hits, adversarial, probabilities):
        if probs.argmax() == label:
            continue
        out.append({"donor_index": int(donor_index[d]), "donor_digit": int(donor_labels[d]), "patch_size": size,
                    "source_row": r, "source_col": c, "target_row": r, "target_col": c,
                    "adversarial_image": grey(picture), "prediction": int(probs.argmax()), "probabilities": probs})
    out.sort(key=lambda s: (s["patch_size"], -s["probabilities"][s["prediction"]]))
    return out


def rate_of_hits(hits: list[tuple], sizes, count: int) -> dict:
    """The success rate of the hits (image k, donor, size, row, col, label) over `count` images: the share
    of images with at least one, per patch size too, the smallest patch per image and the labels reached."""
    fooled = {size: set() for size in sizes}
    reached = {}  # label -> images on which some paste reaches it
    for k, _, size, _, _, label in hits:
        fooled[size].add(k)
        reached.setdefault(label, set()).add(k)
    smallest = [min((s for s in sizes if k in fooled[s]), default=None) for k in range(count)]
    return {"fooled": sum(s is not None for s in smallest),
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


def first_correct(model, data: LabelledImages, candidates: np.ndarray, count: int) -> np.ndarray:
    """The first `count` of `candidates` (indices into `data`) that the model classifies as their label."""
    found = []
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        predicted = predict_probabilities(model, data.float_images(chunk)).argmax(1)
        found.extend(chunk[predicted == data.labels[chunk]].tolist())
        if len(found) >= count:
            break
    return np.array(found[:count], np.int64)


def pick_image(model, data: LabelledImages, options: AttackOptions, digit: int | None) -> int:
    """Index into `data` of the attacked image: options.index (checked: in range, of class `digit` when
    given, correctly classified), else the first correctly classified image (of class `digit` when given)."""
    names, count = data.class_names, len(data.labels)
    if options.index is not None:
        index = options.index
        if not 0 <= index < count:
            raise NnscopeError(f"--index: {index} is outside {data.source} ({count} images); expected 0 to {count - 1}")
        label = int(data.labels[index])
        if digit is not None and label != digit:
            raise NnscopeError(f"--index: image {index} of {data.source} is a '{names[label]}', "
                               f"expected a '{names[digit]}' (--digit {digit})")
        if not len(first_correct(model, data, np.array([index]), 1)):
            raise NnscopeError(f"--index: image {index} of {data.source} (a '{names[label]}') is classified as "
                               "another class; pick a correctly classified one")
        return index
    candidates = np.arange(count) if digit is None else np.flatnonzero(data.labels == digit)
    chosen = first_correct(model, data, candidates, 1)
    if not len(chosen):
        if digit is None:  # no class was asked for: the data (or the model) is what is wrong
            raise NnscopeError(f"--data: the model classifies no image of {data.source} correctly; expected data "
                               "of the classes it was trained on")
        raise NnscopeError(f"--digit: the model classifies no image of class '{names[digit]}' of {data.source} correctly")
    return int(chosen[0])


@dataclasses.dataclass
class AttackResult(Result):
    """Every verified success on one image, the success rate over many images of its class, the sentences."""

    title: ClassVar[str] = "transplant attack"

    index: int | None  # the image's index in the data (None: an image given by itself)
    digit: int  # its class (label, or the class it is classified as)
    label: int
    source: str
    model: str
    class_names: list[str]
    image_shape: list[int]  # [C, H, W]
    image: np.ndarray  # (H, W) grey, (C, H, W) otherwise
    sizes: list[int]
    positions: str  # where the pastes went: NEAR_INK or WHOLE_GRID
    donors: np.ndarray  # indices into the data
    donors_per_class: int
    candidates: int  # pastes tried on the image
    successes: list[dict]
    smallest_patch: int | None
    reachable_digits: list[int]
    unverified_hits: int  # hits of the search the full pass did not confirm
    seconds: float
    rate: dict | None = None
    rate_skipped: str | None = None
    examples: list[int] = dataclasses.field(default_factory=list)  # positions in successes of the drawn ones
    finding: list[str] = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)
    donor_images: np.ndarray | None = dataclasses.field(default=None, repr=False)  # drawing only

    def omitted_when_none(self) -> tuple[str, ...]:
        return ("rate", "rate_skipped")

    def as_dict(self) -> dict:
        values = super().as_dict()
        values.pop("donor_images")
        return values

    def key_numbers(self) -> list[tuple[str, object]]:
        rate = f"{self.rate['rate']:.0%} of {self.rate['images']}" if self.rate else "not measured"
        return [("image", self.source), ("pastes tried", self.candidates), ("successes", len(self.successes)),
                ("smallest patch", self.smallest_patch), ("success rate", rate), ("seconds", self.seconds)]

    def examples_drawn(self) -> list[dict]:
        """The successes the figure draws."""
        return [self.successes[k] for k in self.examples]


def attack_analysis(model, data: LabelledImages | None, options: AttackOptions = AttackOptions(),
                    progress: Progress | None = None, image: np.ndarray | None = None,
                    image_name: str = "--image") -> AttackResult:
    """Problem 2.3 on a loaded model (nnscope.models.LoadedModel): every verified success on `image` (C, H, W)
    in [0, 1] (its class: options.digit, else the model's prediction) or on the image of `data` options.index /
    options.digit picks (the data of the ten digits: MNIST_DIGIT by default), with donors from `data`; the
    success rate over options.images correctly classified images of the class; the sentences. Figures:
    nnscope.analyses.run_attack."""
    if data is None:
        raise NnscopeError("--data: the attack needs a labelled data set for its donors (and the success rate); "
                           "give --data DIR")
    options.check(side=10**9, classes=model.classes)  # the sizes once the image is known, below
    if len(data.class_names) > model.classes:
        raise NnscopeError(f"--data: {data.source}: {len(data.class_names)} classes; {model.source} returns "
                           f"{model.classes} outputs, expected at least one per class")
    start = time.perf_counter()
    if image is None:
        digit = options.digit if options.digit is not None or not ten_digits(data.class_names) else MNIST_DIGIT
        index = pick_image(model, data, options, digit)
        image, label, source = data.float_images([index])[0], int(data.labels[index]), f"image {index} of {data.source}"
    else:
        image = np.ascontiguousarray(torch.as_tensor(image).cpu().numpy(), np.float32)
        index, source = None, str(image_name)
        if tuple(image.shape) != tuple(data.input_shape):  # a donor's square goes to the same place of the image
            raise NnscopeError(f"--image: {image_name} is {' x '.join(map(str, image.shape))}; the donors of "
                               f"{data.source} are {' x '.join(map(str, data.input_shape))} and a transplant pastes "
                               "a square at the place it was cut from: give an image of the data's size")
        predicted = int(predict_probabilities(model, image[None])[0].argmax())
        label = predicted if options.digit is None else options.digit
        if predicted != label:
            raise NnscopeError(f"--digit: {image_name} is classified as '{model.class_names[predicted]}', not "
                               f"'{model.class_names[label]}'; the attack starts from a correctly classified image")
    c, h, w = image.shape
    options.check(side=min(h, w), classes=model.classes, image=f"the {c} x {h} x {w} image")
    if label >= len(data.class_names):
        raise NnscopeError(f"--data: {data.source} has no class {label} ('{model.class_names[label]}') for the "
                           "success rate and the donors' classes")
    sizes = sorted(set(options.sizes))
    donor_index = np.concatenate([first_correct(model, data, np.flatnonzero(data.labels == other), options.donors)
                                  for other in range(len(data.class_names)) if other != label] or [np.zeros(0, np.int64)])
    if not len(donor_index):
        raise NnscopeError(f"--data: the model classifies no image of another class than '{model.class_names[label]}' "
                           f"in {data.source} correctly: no donors")
    donors, donor_labels = data.float_images(donor_index), data.labels[donor_index]
    hits = search(model, image[None], label, donors, sizes, progress=progress, what="pastes on the image")
    successes = verified_successes(model, image, label, hits, donors, donor_index, donor_labels)
    result = AttackResult(
        index=index, digit=label, label=label, source=source, model=model.source, class_names=list(model.class_names),
        image_shape=[c, h, w], image=grey(image), sizes=sizes, positions=positions_rule(image), donors=donor_index,
        donors_per_class=options.donors, candidates=sum(int(paste_mask(image, s, 1).sum()) for s in sizes) * len(donors),
        successes=successes, smallest_patch=min((s["patch_size"] for s in successes), default=None),
        reachable_digits=sorted({s["prediction"] for s in successes}), unverified_hits=len(hits) - len(successes),
        seconds=0.0)
    if options.images:
        chosen = first_correct(model, data, np.flatnonzero(data.labels == label), options.images)
        pictures = data.float_images(chosen)
        rate_hits = search(model, pictures, label, donors, sizes, options.rate_stride, progress,
                           f"pastes on {len(chosen)} images for the success rate")
        result.rate = {"images": len(chosen), "indices": chosen, "stride": options.rate_stride,
                       "positions": sorted({positions_rule(p) for p in pictures}), **rate_of_hits(rate_hits, sizes, len(chosen))}
    else:
        result.rate_skipped = "The success rate over many images is skipped: --images 0."
    result.seconds = time.perf_counter() - start
    examples = examples_to_draw(successes)
    result.examples = [successes.index(s) for s in examples]
    result.donor_images = np.stack([grey(donors[list(donor_index).index(s["donor_index"])]) for s in examples]
                                   ) if examples else None
    if not options.every_image:  # keep the pictures of the drawn examples only
        for k, success in enumerate(successes):
            if k not in result.examples:
                success.pop("adversarial_image")
    result.finding = describe_attack(result)
    return result
