"""Occlusion of one image on any model (`occlude --model SPEC --image PATH`, or a pick from `--data`):
the three maps, which parts matter (the digit parts where they apply, else a grid) and, with a data
set, the same averaged over its images of the target class.

nnscope's own CNN keeps its fast engine (maps.occlusion_probabilities) for a square patch and one
fill value; every other model, patch or fill goes through the traced engine (traced.py), exact too.
"""

import time
from pathlib import Path

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.findings.occlusion import describe_model_aggregate, describe_model_occlusion, describe_parts
from nnscope.labelled_data import LabelledImages
from nnscope.options.occlusion import SIDE, ModelOcclusionOptions
from nnscope.progress import Progress
from nnscope.vision.occlusion.maps import occlusion_maps, occlusion_probabilities
from nnscope.vision.occlusion.parts import CRITICAL, measure_regions, regions_for, regions_without_masks
from nnscope.vision.occlusion.spans import patch_starts
from nnscope.vision.occlusion.traced import traced_occlusion

PREDICT_BATCH = 256  # images per forward pass when predicting a data set


def nnscope_cnn(loaded):
    """The nnscope CNN inside `loaded` when it runs on raw pixels (no --mean / --std), else None."""
    return loaded.network if loaded.format == "nnscope" and not loaded.module.normalised else None


def model_occlusion_probabilities(loaded, images: torch.Tensor, patch: tuple[int, int], stride: tuple[int, int],
                                  fill: tuple[float, ...], progress: Progress | None = None) -> tuple:
    """(probabilities (N, rows, cols, K) float32, row starts, column starts, engine) of the patch of `fill`
    (one value or one per channel) at every position of each image (N, C, H, W)."""
    cnn = nnscope_cnn(loaded)
    if (cnn is not None and patch[0] == patch[1] and stride[0] == stride[1] and len(fill) == 1
            and tuple(images.shape[1:]) == (1, SIDE, SIDE)):
        starts = patch_starts(patch[0], stride[0]).tolist()
        probabilities = occlusion_probabilities(cnn, images, patch[0], stride[0], fill[0], progress=progress)
        return probabilities, starts, starts, "nnscope CNN engine (incremental)"
    value = float(fill[0]) if len(fill) == 1 else torch.tensor(fill, dtype=torch.float32, device=images.device)
    report = (lambda done, total: progress(done, total, "positions")) if progress is not None else None
    traced = traced_occlusion(loaded.module, images, patch, stride, value, progress=report)
    engine = f"traced engine ({traced.method}: {traced.note})"
    return traced.probabilities().cpu().numpy().astype(np.float32), traced.row_starts, traced.col_starts, engine


@torch.no_grad()
def predict_probabilities(loaded, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, K) of float images (N, C, H, W) in [0, 1]."""
    out = [torch.softmax(loaded.module(torch.from_numpy(images[s : s + PREDICT_BATCH]).to(loaded.device)), 1).cpu()
           for s in range(0, len(images), PREDICT_BATCH)]
    return torch.cat(out).numpy()


def pick_from_data(loaded, data: LabelledImages, options: ModelOcclusionOptions) -> int:
    """The index into --data of the image to occlude: --index (checked), else the first correctly
    classified image (of class --digit when given)."""
    count = len(data.labels)
    if options.index is not None:
        if options.index >= count:
            raise NnscopeError(f"--index: {options.index} is outside --data ({count} images); expected 0 to {count - 1}")
        return options.index
    predicted = predict_probabilities(loaded, data.float_images()).argmax(1)
    chosen = predicted == data.labels
    if options.digit is not None:
        chosen &= data.labels == options.digit
    if not chosen.any():
        which = f" of class {options.digit}" if options.digit is not None else ""
        raise NnscopeError(f"--data: {data.source}: no correctly classified image{which}; give --index I")
    return int(np.flatnonzero(chosen)[0])


def model_aggregate(loaded, data: LabelledImages, target: int, options: ModelOcclusionOptions,
                    progress: Progress | None = None) -> dict | None:
    """Over the first options.aggregate_images images of --data labelled `target` and classified so: mean
    maps and, per region, the mean over the images of its drop (None when there is no such image)."""
    candidates = np.flatnonzero(data.labels == target)
    images = data.float_images(candidates)
    base = predict_probabilities(loaded, images)
    keep = np.flatnonzero(base.argmax(1) == target)[: options.aggregate_images]
    if not len(keep):
        return None
    chosen = torch.from_numpy(images[keep]).to(loaded.device)
    many, rows, cols, _ = model_occlusion_probabilities(loaded, chosen, options.patch_hw, options.stride_hw,
                                                        options.fill, progress)
    per_image, splits = [], set()
    for image, probs, unoccluded in zip(images[keep], many, base[keep, target]):
        split, masks = regions_for(image, loaded.class_names, options.grid)
        splits.add(split)
        maps = {"true_class_probability": probs[..., target], "predicted_label": probs.argmax(-1)}
        per_image.append(measure_regions(masks, maps, target, rows, cols, options.patch_hw, float(unoccluded)))
    true_maps = many[..., target]
    names = list(dict.fromkeys(name for s in per_image for name in s["parts"]))
    return {
        "images": len(keep), "indices": candidates[keep], "split": ", ".join(sorted(splits)),
        "mean_image": images[keep].mean(0),
        "mean_true_class_probability": true_maps.mean(0),
        "critical_fraction": (true_maps < CRITICAL).mean(0),
        "flipped_fraction": (many.argmax(-1) != target).mean(0),
        "images_with_critical": sum(s["critical_positions"] > 0 for s in per_image),
        "images_with_flip": sum(s["flipped_positions"] > 0 for s in per_image),
        "parts": {name: {"images": sum(name in s["parts"] for s in per_image),
                         "mean_drop": float(np.mean([s["parts"][name]["mean_drop"] for s in per_image
                                                     if name in s["parts"]]))}
                  for name in names},
    }


def run_model_occlusion(loaded, data: LabelledImages | None, options: ModelOcclusionOptions = ModelOcclusionOptions(),
                        out: Path | str | None = None, progress: Progress | None = None,
                        image: np.ndarray | None = None, image_name: str = "--image") -> dict:
    """The occlusion maps of `image` (C, H, W) in [0, 1], or of the --data image options.index picks, on
    any loaded model (nnscope.models.LoadedModel), which parts matter, the aggregate over the data set's
    images of the target class, and the sentences (`finding`); with `out`, the figures drawn there."""
    options.check()
    if image is None and data is None:
        raise NnscopeError("--image or --data: give the image to occlude, or a data set to pick it from")
    start = time.perf_counter()
    index, label, source = None, None, str(image_name)
    if image is None:
        index = pick_from_data(loaded, data, options)
        image, label, source = data.float_images([index])[0], int(data.labels[index]), f"image {index} of {data.source}"
    channels, height, width = image.shape
    options.check_image(channels, height, width, loaded.classes)
    if label is not None and label >= loaded.classes:
        raise NnscopeError(f"--data: image {index} has label {label}; the model has {loaded.classes} classes")
    images = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None].to(loaded.device)
    probabilities, rows, cols, engine = model_occlusion_probabilities(loaded, images, options.patch_hw,
                                                                      options.stride_hw, options.fill)
    unoccluded = predict_probabilities(loaded, images.cpu().numpy())[0]
    target = options.target if options.target is not None else label if label is not None else int(unoccluded.argmax())
    target_from = "--target" if options.target is not None else "label" if label is not None else "prediction"
    maps = occlusion_maps(probabilities[0], target)
    split, masks = regions_for(image, loaded.class_names, options.grid)
    regions = measure_regions(masks, maps, target, rows, cols, options.patch_hw, float(unoccluded[target]))
    regions["split"] = split
    regions["text"] = describe_parts(regions, target, options.patch_hw, loaded.class_names)
    name = loaded.class_names[target]
    result = {"index": index, "label": label, "source": source, "model": loaded.source, "engine": engine,
              "digit": target, "target": target, "target_from": target_from, "class_names": list(loaded.class_names),
              "patch": list(options.patch_hw), "stride": list(options.stride_hw),
              "fill": options.fill[0] if len(options.fill) == 1 else list(options.fill),
              "starts": list(rows), "col_starts": list(cols), "image": image, "unoccluded_probabilities": unoccluded,
              "probabilities": probabilities[0], **maps}
    aggregate = model_aggregate(loaded, data, target, options, progress) if data is not None and options.aggregate_images else None
    if aggregate is not None:
        aggregate["text"] = describe_model_aggregate(aggregate, name, options.patch_hw)
        result["aggregate"] = aggregate
    elif data is None:
        result["aggregate_skipped"] = "The aggregate over many images needs --data DIR: skipped."
    elif options.aggregate_images:
        result["aggregate_skipped"] = (f"The aggregate is skipped: no image of --data labelled '{name}' is "
                                       "classified so.")
    else:
        result["aggregate_skipped"] = "The aggregate is skipped: --images 0."
    result["seconds"] = time.perf_counter() - start
    result["figures"] = []
    if out is not None:
        # matplotlib: only when figures are drawn
        from nnscope.report.figures_occlusion import draw_occlusion_figures

        result["figures"] = draw_occlusion_figures({**result, "regions": regions}, Path(out))
    result["which_parts_matter"] = regions_without_masks(regions)
    result["finding"] = describe_model_occlusion(result)
    return result


def test_set_as_labelled(digits) -> LabelledImages:
    """The test set of nnscope.data.Digits as a labelled data set (N, 1, 28, 28) of the ten digits."""
    return LabelledImages(images=digits.test_images[:, None], scale=1 / 255, labels=digits.test_labels.astype(np.int64),
                          class_names=tuple(str(d) for d in range(10)), source=f"the {digits.name} test set")
