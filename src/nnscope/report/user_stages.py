"""The report's stages on the user's own model (`nnscope report --model SPEC --data DIR`).

The same table as `nnscope.report.stages.STAGES`, with the any-model entry points: the first stage
describes the given model instead of training one (its layers, parameters and the accuracy on
--data), Problems 1-2 run through `vision/user_*.py` and the traced occlusion with the model's own
layer and class names, and Problems 3-5 are the very same stages as in the default report. Each run
function is called as `run(loaded, inputs, options, out=..., progress=...)`: `loaded` a LoadedModel,
`inputs` the `UserInputs` (--data, --image, the class pair). An analysis the model or the inputs do
not allow (no --data and no --image; a TorchScript model's hooks) gives a section that says why.
"""

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nnscope.analyses import run_attack, run_featuremaps, run_filters, run_occlusion, run_shift
from nnscope.errors import NnscopeError
from nnscope.labelled_data import LabelledImages
from nnscope.options.attack import AttackOptions
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.options.occlusion import SIDE, OcclusionOptions
from nnscope.options.shift import ShiftOptions
from nnscope.report.context import unavailable
from nnscope.report.stages import STAGES, Stage
from nnscope.vision.examples import probabilities

NO_DATA = "no --data given: the accuracy against labels was not measured"
NO_INPUT = "no --data and no --image given: no image for {what}, skipped"
NO_DONORS = "no --data given: the transplants need donor images of the other classes, skipped"
TABLE_KEYS = ("shape", "min", "max", "mean", "std", "share_positive", "strongest_filter")  # a filters row
OCCLUSION_PATCH = 8  # pixels on a 28-pixel side, as Problem 2 asks; larger images scale patch and stride


@dataclass(frozen=True)
class UserInputs:
    """What the user stages get beside the model: the data set, the image and the class pair."""

    data: LabelledImages | None  # --data, in the model's channels
    image: np.ndarray | None  # --image as (C, H, W) in [0, 1]
    pair: tuple[int, int] | None  # the two classes compared (--classes, else the first two); None without --data


def checked_pair(data: LabelledImages | None, classes) -> tuple[int, int] | None:
    """The class pair of --classes (names or indices), else the data's first two; one line when it is not two
    different classes of the data."""
    from nnscope.labelled_data import pick_classes

    if data is None:
        if classes is not None:
            raise NnscopeError("--classes: picks two classes of --data; give --data DIR too")
        return None
    pair = pick_classes(data.class_names, classes if classes is not None else data.class_names[:2])
    if len(pair) != 2 or pair[0] == pair[1]:
        raise NnscopeError(f"--classes: {' '.join(map(str, classes or data.class_names[:2]))}; expected two "
                           "different classes of the data")
    return tuple(pair)


def accuracy_on(loaded, data: LabelledImages) -> dict:
    """The share of `data` whose argmax logit is its label, overall and per class."""
    predicted = probabilities(loaded, data.float_images()).argmax(1)
    correct = predicted == data.labels
    per_class = []
    for k, name in enumerate(data.class_names):
        mine = data.labels == k
        per_class.append({"class": k, "name": name, "images": int(mine.sum()), "correct": int(correct[mine].sum()),
                          "accuracy": float(correct[mine].mean()) if mine.any() else None})
    return {"data": data.source, "images": int(len(correct)), "correct": int(correct.sum()),
            "errors": int((~correct).sum()), "accuracy": float(correct.mean()), "per_class": per_class}


def describe_model(loaded, inputs: UserInputs, options=None, out: Path | None = None, progress=None) -> dict:
    """The report's first section on the user's model: its layers (named_modules() names, type, output shape
    for one image, own parameters), the totals, and the accuracy on --data against its labels."""
    layers = [{"name": row["name"], "type": row["type"], "output_shape": row["output_shape"],
               "parameters": row["parameters"]} for row in loaded.layers if row["name"]]
    section = {"model": loaded.source, "format": loaded.format, "input_shape": list(loaded.input_shape),
               "fixed_size": loaded.fixed_size, "classes": loaded.classes, "class_names": list(loaded.class_names),
               "conv_layers": list(loaded.conv_layers), "layers": layers,
               "parameters": sum(p.numel() for p in loaded.network.parameters()),
               "trainable_parameters": sum(p.numel() for p in loaded.network.parameters() if p.requires_grad),
               "figures": []}
    if inputs.data is None:
        section["accuracy_skipped"] = NO_DATA
    else:
        section["accuracy"] = accuracy_on(loaded, inputs.data)
    section["finding"] = model_finding(section)
    return section


def model_finding(s: dict) -> list[str]:
    """The model section in words, built from its measurements."""
    c, h, w = s["input_shape"]
    convs = s["conv_layers"]
    named = f" ({', '.join(convs[:3])}{', ...' if len(convs) > 3 else ''})" if convs else ""
    lines = [f"{s['model']}: {len(s['layers'])} modules, {len(convs)} of them convolutional{named}, "
             f"{s['parameters']:,} parameters; it takes {c} x {h} x {w} images"
             f"{' (this size only)' if s['fixed_size'] else ' (other sizes too)'} and returns {s['classes']} logits."]
    if "accuracy" in s:
        a = s["accuracy"]
        lines.append(f"It labels {a['accuracy']:.2%} of the {a['images']:,} images of {a['data']} correctly "
                     f"({a['errors']:,} mistakes), measured against the data set's labels.")
    else:
        lines.append(s["accuracy_skipped"][0].upper() + s["accuracy_skipped"][1:] + ".")
    return lines


def skipped(reason: str) -> dict:
    """A section that did not run, with the line the page shows."""
    return {**unavailable(reason), "finding": [reason[0].upper() + reason[1:] + "."]}


def guarded(run):
    """`run` with an analysis the model or the inputs cannot take (NnscopeError: a TorchScript model's hooks,
    an image too small to shift) turned into a section that says why: one such analysis does not stop the
    report. Bad input (the model, --data, --classes) is refused before any stage runs."""
    @functools.wraps(run)
    def stage(loaded, inputs, options, out=None, progress=None):
        try:
            return run(loaded, inputs, options, out=out, progress=progress)
        except NnscopeError as e:
            return skipped(str(e))
    return stage


@guarded
def filters_stage(loaded, inputs: UserInputs, options=None, out: Path | None = None, progress=None) -> dict:
    """Problem 1.1: the filters of the first three Conv2d in forward order; `table` holds the page's numbers by
    row, since a layer name has dots (`layer1.conv_a`) that a results.json key path cannot hold."""
    result = run_filters(loaded, None, out=out).to_json()
    result["table"] = [{"name": name, **{key: stats[key] for key in TABLE_KEYS}}
                       for name, stats in result["layers"].items()]
    return result


@guarded
def featuremaps_stage(loaded, inputs: UserInputs, options: FeatureMapsOptions, out: Path | None = None,
                      progress=None) -> dict:
    """Problem 1.2: the maps of the third Conv2d for one image of each class of the pair (or --image) and,
    over --data, the channels that tell the two classes apart."""
    if inputs.data is None and inputs.image is None:
        return skipped(NO_INPUT.format(what="the feature maps"))
    if inputs.pair is not None:
        options = replace(options, classes=tuple(inputs.pair))
    return run_featuremaps(loaded, inputs.data, options, out=out, progress=progress, image=inputs.image)


@guarded
def shift_stage(loaded, inputs: UserInputs, options: ShiftOptions, out: Path | None = None, progress=None) -> dict:
    """Problem 1.3: --image, else the first correctly classified image of the pair's first class, shifted; the
    sweep over --data."""
    if inputs.data is None and inputs.image is None:
        return skipped(NO_INPUT.format(what="the shift"))
    if inputs.pair is not None:
        options = replace(options, digit=inputs.pair[0])
    return run_shift(loaded, inputs.data, options, out=out, progress=progress, image=inputs.image)


def occlusion_scale(shape) -> tuple[int, int]:
    """(patch, stride): 8 and 1 on sides up to 28 pixels, both scaled with the shorter side beyond that (an 8 x 8
    patch at stride 1 on 224 x 224 would be 47,089 positions)."""
    factor = max(1, round(min(shape[-2:]) / SIDE))
    return OCCLUSION_PATCH * factor, factor


def attacked_class(loaded, data: LabelledImages, preferred: int) -> int:
    """`preferred` when the model gets one of its images right, else the first class it gets an image right
    of (the attack needs a correctly classified image; none at all: `preferred`, and the attack says so)."""
    right = np.unique(data.labels[probabilities(loaded, data.float_images()).argmax(1) == data.labels])
    return preferred if preferred in right or not len(right) else int(right[0])


def occlusion_index(loaded, data: LabelledImages, label: int) -> int:
    """The first image of class `label` the model gets right, else the first of that class."""
    candidates = np.flatnonzero(data.labels == label)
    right = candidates[probabilities(loaded, data.float_images(candidates)).argmax(1) == label]
    return int(right[0] if len(right) else candidates[0])


@guarded
def occlusion_stage(loaded, inputs: UserInputs, options: OcclusionOptions, out: Path | None = None,
                    progress=None) -> dict:
    """Problem 2.1-2.2: the three maps of --image, else of an image of the pair's first class, which parts matter
    (the digit parts where they apply, else a grid) and the aggregate over that class's images of --data."""
    if inputs.data is None and inputs.image is None:
        return skipped(NO_INPUT.format(what="the occlusion"))
    shape = inputs.image.shape if inputs.image is not None else inputs.data.input_shape
    patch, stride = occlusion_scale(shape)
    options = replace(options, patch=(patch, patch), stride=(stride, stride))  # the page names height and width
    if inputs.image is None:
        options = replace(options, index=occlusion_index(loaded, inputs.data, inputs.pair[0]))
    return run_occlusion(loaded, inputs.data, options, out=out, progress=progress, image=inputs.image).as_dict()


@guarded
def transplant_stage(loaded, inputs: UserInputs, options: AttackOptions, out: Path | None = None,
                     progress=None) -> dict:
    """Problem 2.3: patches cut from --data's images of the other classes pasted onto --image, else onto the
    first correctly classified image of the pair's first class; the success rate over that class's images."""
    if inputs.data is None:
        return skipped(NO_DONORS)
    if inputs.image is None:
        options = replace(options, digit=attacked_class(loaded, inputs.data, inputs.pair[0]))
    return run_attack(loaded, inputs.data, options, out=out, progress=progress, image=inputs.image).as_dict()


def shared(name: str) -> Stage:
    """The default report's stage `name` (Problems 3-5 need neither the model nor the data)."""
    return next(stage for stage in STAGES if stage.name == name)


USER_STAGES = [
    Stage("model", "the model: layers, parameters, accuracy", run=describe_model),
    Stage("filters", "problem 1.1: filters", run=filters_stage),
    # ranking and ablation over --data; the quick report over its first 1000 images
    Stage("featuremaps", "problem 1.2: feature maps of two classes", run=featuremaps_stage,
          options=FeatureMapsOptions(), quick=FeatureMapsOptions(limit=1000)),
    Stage("shift", "problem 1.3: shifting an image", run=shift_stage,
          options=ShiftOptions(sweep_images=2000), quick=ShiftOptions(sweep_images=300)),
    Stage("occlusion", "problem 2.1-2.2: occlusion", run=occlusion_stage,
          options=OcclusionOptions(images=100), quick=OcclusionOptions(images=10)),
    Stage("transplant", "problem 2.3: patch transplants", run=transplant_stage,  # success rate over 30, quick 5
          options=AttackOptions(images=30, every_image=False), quick=AttackOptions(images=5, every_image=False)),
    shared("rnn"), shared("longseq"), shared("lstm"),
]


