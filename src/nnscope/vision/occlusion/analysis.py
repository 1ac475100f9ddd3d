"""Problem 2.1-2.2 for any model: `occlusion_analysis` (drawn by `nnscope.analyses.run_occlusion`, the entry
point of `nnscope occlude`, the report, the live page and notebooks). One image (picked from the data, or
given): its occlusion maps, which of its parts matter (the digit's strokes where the image is a digit, a
grid of regions otherwise) and the same averaged over many images of its class; or (options.test_set) the
maps of many images into one .npz.
"""

import dataclasses
import time
from typing import ClassVar

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.findings.occlusion import describe_aggregate, describe_occlusion, describe_parts
from nnscope.labelled_data import LabelledImages
from nnscope.options.occlusion import MNIST_DIGIT, OcclusionOptions
from nnscope.progress import Progress
from nnscope.results import Result
from nnscope.vision.occlusion.aggregate import grey, occlusion_aggregate, predict_probabilities
from nnscope.vision.occlusion.drill_down import drill_down_occlusion
from nnscope.vision.occlusion.maps import Occluded, baseline_of, model_occlusion, occlusion_maps
from nnscope.vision.occlusion.parts import measure_regions, regions_for, regions_without_masks, ten_digits
from nnscope.vision.occlusion.test_set import OcclusionTestSetResult, occlusion_of_test_set

DRILL_DOWN_COARSE = 2  # --drill-down's coarse grid: every DRILL_DOWN_COARSE-th row and column of the positions


@dataclasses.dataclass
class OcclusionResult(Result):
    """The occlusion maps of one image, which of its parts matter, and the aggregate over its class."""

    title: ClassVar[str] = "occlusion"

    index: int | None  # the image's index in the data (None: an image given by itself)
    label: int | None  # its label in the data (None: unknown)
    source: str  # the image, in words
    model: str
    engine: str  # which engine computed the maps, in words
    digit: int  # the class of map 1 (the name of older results; equal to `target`)
    target: int
    target_from: str  # '--target', 'label' or 'prediction'
    class_names: list[str]
    patch: int | list[int]  # as given: a side or (height, width)
    stride: int | list[int]
    fill: float | list[float]
    row_starts: list[int]  # map row r: the patch's top row; Captum's rule, every pixel covered
    col_starts: list[int]
    image: np.ndarray  # (H, W) grey, (C, H, W) otherwise, in [0, 1]
    unoccluded_probabilities: np.ndarray  # (K,)
    probabilities: np.ndarray  # (rows, cols, K)
    true_class_probability: np.ndarray  # (rows, cols): P(target)
    max_probability: np.ndarray
    predicted_label: np.ndarray
    which_parts_matter: dict
    seconds: float
    aggregate: dict | None = None
    aggregate_skipped: str | None = None  # why there is no aggregate
    explorer: dict | None = None  # the report's occlusion explorer
    drill_down: dict | None = None  # --drill-down R: the map is approximate; what R means, what was computed
    finding: list[str] = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)
    regions: dict = dataclasses.field(default_factory=dict, repr=False)  # with the per-pixel masks: drawing only

    def omitted_when_none(self) -> tuple[str, ...]:
        return ("aggregate", "aggregate_skipped", "explorer", "drill_down")

    def as_dict(self) -> dict:
        values = super().as_dict()
        values.pop("regions")
        values["starts"] = self.row_starts  # the name of row_starts until 0.3: an alias for one release
        return values

    def key_numbers(self) -> list[tuple[str, object]]:
        name = self.class_names[self.target]
        return [("image", self.source), ("engine", self.engine), (f"P('{name}') unoccluded",
                float(self.unoccluded_probabilities[self.target])),
                (f"lowest P('{name}')", float(self.true_class_probability.min())), ("seconds", self.seconds)]


def pick_image(model, data: LabelledImages, options: OcclusionOptions) -> int:
    """The index into `data` of the image to occlude: options.index (checked, of class options.digit when
    given), else the first correctly classified image (of class options.digit when given)."""
    count, names = len(data.labels), data.class_names
    if options.index is not None:
        if options.index >= count:
            raise NnscopeError(f"--index: {options.index} is outside {data.source} ({count} images); "
                               f"expected 0 to {count - 1}")
        label = int(data.labels[options.index])
        if options.digit is not None and label != options.digit:
            raise NnscopeError(f"--index: image {options.index} of {data.source} is a '{names[label]}', expected "
                               f"a '{names[options.digit]}' (--digit {options.digit})")
        return options.index
    candidates = np.flatnonzero(data.labels == options.digit) if options.digit is not None else np.arange(count)
    predicted = predict_probabilities(model, data.float_images(candidates)).argmax(1)
    correct = candidates[predicted == data.labels[candidates]]
    if not len(correct):
        which = f" of class '{names[options.digit]}'" if options.digit is not None else ""
        raise NnscopeError(f"--data: {data.source}: the model classifies no image{which} correctly; give --index I")
    return int(correct[0])


def check_data(model, data: LabelledImages) -> None:
    """One line when the data has more classes than the model has outputs (its labels would name none)."""
    if len(data.class_names) > model.classes:
        raise NnscopeError(f"--data: {data.source}: {len(data.class_names)} classes; {model.source} returns "
                           f"{model.classes} outputs, expected at least one per class")


def occlusion_analysis(model, data: LabelledImages | None, options: OcclusionOptions = OcclusionOptions(),
                       progress: Progress | None = None, image: np.ndarray | None = None,
                       image_name: str = "--image") -> OcclusionResult | OcclusionTestSetResult:
    """The occlusion maps of `image` (C, H, W) in [0, 1], or of the image of `data` options.index /
    options.digit picks (the data of the ten digits: MNIST_DIGIT by default), on a loaded model
    (nnscope.models.LoadedModel), which parts matter, the aggregate over the data's images of the target
    class, and the sentences; figures: nnscope.analyses.run_occlusion. options.test_set: the maps of the
    data's first options.images images into one .npz (occlusion_of_test_set)."""
    options.check()
    options.check_classes(model.classes)
    if image is None and data is None:
        raise NnscopeError("--image or --data: give the image to occlude, or a data set to pick it from")
    if data is not None:
        check_data(model, data)
    if options.test_set:
        return occlusion_of_test_set(model, data, options, progress=progress)
    if options.digit is None and options.index is None and image is None and ten_digits(data.class_names):
        options = dataclasses.replace(options, digit=MNIST_DIGIT)  # the assignment's digit on the ten digits
    start = time.perf_counter()
    index, label, source = None, None, str(image_name)
    if image is None:
        index = pick_image(model, data, options)
        image, label, source = data.float_images([index])[0], int(data.labels[index]), f"image {index} of {data.source}"
    channels, height, width = image.shape
    options.check_image(channels, height, width, model.classes)
    images = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None].to(model.device)
    unoccluded = predict_probabilities(model, image[None])[0]
    target = options.target if options.target is not None else label if label is not None else int(unoccluded.argmax())
    target_from = "--target" if options.target is not None else "label" if label is not None else "prediction"
    drill_down = None
    if options.drill_down is None:
        occluded = model_occlusion(model, images, options.patch_hw, options.stride_hw, options.fills)
    else:
        occluded, drill_down = drilled_down(model, images, options, target)
    probabilities = occluded.probabilities[0]
    maps = occlusion_maps(probabilities, target)
    split, masks = regions_for(image, model.class_names, options.grid)
    regions = measure_regions(masks, maps, target, occluded.row_starts, occluded.col_starts, options.patch_hw,
                              float(unoccluded[target]))
    regions["split"] = split
    names = list(model.class_names)
    regions["text"] = describe_parts(regions, target, options.patch_hw, names)
    result = OcclusionResult(
        index=index, label=label, source=source, model=model.source, engine=occluded.engine, digit=target,
        target=target, target_from=target_from, class_names=names, patch=_as_given(options.patch),
        stride=_as_given(options.stride), fill=_as_given(options.fill), row_starts=occluded.row_starts,
        col_starts=occluded.col_starts, image=grey(image), unoccluded_probabilities=unoccluded,
        probabilities=probabilities, **maps, which_parts_matter=regions_without_masks(regions), seconds=0.0,
        regions=regions, drill_down=drill_down)
    if data is None:
        result.aggregate_skipped = "The aggregate over many images needs --data DIR: skipped."
    elif not options.aggregate_images:
        result.aggregate_skipped = "The aggregate is skipped: --images 0."
    else:
        result.aggregate = occlusion_aggregate(model, data, target, options.aggregate_images, options, progress)
        if result.aggregate is None:
            result.aggregate_skipped = (f"The aggregate is skipped: no image of {data.source} labelled "
                                        f"'{names[target]}' is classified so.")
        else:
            result.aggregate["text"] = describe_aggregate(result.aggregate, names[target], options.patch_hw,
                                                          data.source, occluded.row_starts, occluded.col_starts)
    result.seconds = time.perf_counter() - start
    result.finding = describe_occlusion(result)
    if options.explorer and index is not None:  # what the report's explorer widget reads: the data's own pixels
        result.explorer = {"image": grey(data.images[index]), "starts": occluded.row_starts,
                           "col_starts": occluded.col_starts, "patch": result.patch, "fill": result.fill,
                           "digit": target, "probabilities": probabilities}
    return result


def drilled_down(model, images: torch.Tensor, options: OcclusionOptions, target: int) -> tuple[Occluded, dict]:
    """The maps of one image by drill-down (nnscope.vision.occlusion.drill_down) on the traced engine, the
    top options.drill_down share of positions by the change of P(target)'s logit; and what was computed."""
    share = options.drill_down
    traced = drill_down_occlusion(model.module, images, options.patch_hw, options.stride_hw, share,
                                  baseline_of(options.fills, images), target=target,
                                  coarse=DRILL_DOWN_COARSE)
    computed = traced.computed[0]
    positions, exact = computed.size, int(computed.sum())
    words = (f"drill-down (approximate): {exact} of {positions} positions computed exactly, the rest interpolated"
             if exact < positions else f"drill-down (R = {share:g}: every one of the {positions} positions computed "
             "exactly)")
    engine = f"{words}; traced engine ({traced.method}: {traced.note})"
    occluded = Occluded(traced.probabilities().cpu().numpy().astype(np.float32), traced.row_starts,
                        traced.col_starts, engine)
    return occluded, {
        "share": share, "approximate": exact < positions, "positions": positions, "computed_positions": exact,
        "coarse_step": DRILL_DOWN_COARSE, "computed": computed,
        "meaning": f"exact on a coarse grid (one row and one column of positions in every {DRILL_DOWN_COARSE}, and "
                   "the last), then exactly "
                   f"at the top {share:g} share of the positions by the interpolated change of the target's output, "
                   "with the 8 positions around each; every other position's outputs are interpolated (bilinear) "
                   "from the computed ones"}


def _as_given(value):
    """An option as the JSON shows it: one number as a number, several as a list."""
    if isinstance(value, (tuple, list)):
        return value[0] if len(value) == 1 else list(value)
    return value
