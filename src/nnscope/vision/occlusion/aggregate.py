"""Which parts matter on average: the occlusion maps of many correctly classified images of one class, their
mean maps, and per part (the digit's strokes, or the cells of a grid) the mean over the images that have it."""

import numpy as np
import torch

from nnscope.labelled_data import LabelledImages
from nnscope.progress import Progress
from nnscope.vision.occlusion.maps import model_occlusion
from nnscope.vision.occlusion.parts import CRITICAL, DIGIT_SPLIT, measure_regions, regions_for

PREDICT_BATCH = 256  # images per forward pass when predicting a data set


@torch.no_grad()
def predict_probabilities(model, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, K) of float images (N, C, H, W) in [0, 1] on a loaded model."""
    out = [torch.softmax(model.module(torch.from_numpy(images[s : s + PREDICT_BATCH]).to(model.device)), 1).cpu()
           for s in range(0, len(images), PREDICT_BATCH)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.classes), np.float32)


def grey(image: np.ndarray) -> np.ndarray:
    """An image (C, H, W) as results hold it: (H, W) when it has one channel."""
    return image[0] if image.shape[0] == 1 else image


def occlusion_aggregate(model, data: LabelledImages, target: int, count: int, options,
                        progress: Progress | None = None) -> dict | None:
    """Over the first `count` images of `data` labelled `target` and classified so: the mean maps and, per
    part, the mean over the images that have it of its drop in P(target) and its share of the pixels hidden
    by critical patches; None when no image is labelled and classified so."""
    candidates = np.flatnonzero(data.labels == target)
    images = data.float_images(candidates)
    base = predict_probabilities(model, images)
    keep = np.flatnonzero(base.argmax(1) == target)[:count]
    if not len(keep):
        return None
    chosen = torch.from_numpy(images[keep]).to(model.device)
    occluded = model_occlusion(model, chosen, options.patch_hw, options.stride_hw, options.fills, progress)
    many = occluded.probabilities
    per_image, splits = [], set()
    for image, probs, unoccluded in zip(images[keep], many, base[keep, target]):
        split, masks = regions_for(image, model.class_names, options.grid)
        splits.add(split)
        maps = {"true_class_probability": probs[..., target], "predicted_label": probs.argmax(-1)}
        per_image.append(measure_regions(masks, maps, target, occluded.row_starts, occluded.col_starts,
                                         options.patch_hw, float(unoccluded)))
    names = sorted({name for s in per_image for name in s["parts"]})
    true_maps = many[..., target]
    return {
        "images": len(keep),
        "indices": candidates[keep],
        "split": ", ".join(sorted(splits)),
        "mean_image": grey(images[keep].mean(0)),
        "mean_true_class_probability": true_maps.mean(0),
        "critical_fraction": (true_maps < CRITICAL).mean(0),
        "flipped_fraction": (many.argmax(-1) != target).mean(0),
        "images_with_loop": sum("loop" in s["parts"] for s in per_image),
        "images_with_critical": sum(s["critical_positions"] > 0 for s in per_image),
        "images_with_flip": sum(s["flipped_positions"] > 0 for s in per_image),
        "parts": {name: {"images": sum(name in s["parts"] for s in per_image),
                         "mean_drop": float(np.mean([s["parts"][name]["mean_drop"] for s in per_image
                                                     if name in s["parts"]])),
                         "hidden_share": float(np.mean([s["parts"][name]["hidden_share"] for s in per_image
                                                        if name in s["parts"] and s["critical_positions"]] or [0.0]))}
                  for name in names},
    }


def is_digit_split(aggregate: dict) -> bool:
    """Whether every image of the aggregate was split into digit parts (loop, stem, ...)."""
    return aggregate["split"] == DIGIT_SPLIT
