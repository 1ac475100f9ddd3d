"""Which parts of a digit matter on average: the occlusion maps of many correctly classified test
images of one digit, their mean maps, and per part of the digit the mean over the images that have it."""

import numpy as np

from nnscope.data import Digits, as_float_images
from nnscope.progress import Progress
from nnscope.vision.examples import predict
from nnscope.vision.occlusion.maps import occlusion_probabilities
from nnscope.vision.occlusion.parts import CRITICAL, which_parts_matter


def aggregate_parts(images: np.ndarray, probabilities: np.ndarray, unoccluded: np.ndarray, digit: int,
                    patch: int, stride: int) -> dict:
    """Over many images of `digit`: mean maps, and per part the mean over the images that have it."""
    per_image = []
    for image, probs, base in zip(images, probabilities, unoccluded):
        maps = {"true_class_probability": probs[..., digit], "predicted_label": probs.argmax(-1)}
        per_image.append(which_parts_matter(image, maps, digit, patch, stride, float(base)))
    names = sorted({name for s in per_image for name in s["parts"]})
    true_maps = probabilities[..., digit]
    flipped = probabilities.argmax(-1) != digit
    return {
        "images": len(images),
        "mean_image": images.mean(0),
        "mean_true_class_probability": true_maps.mean(0),
        "critical_fraction": (true_maps < CRITICAL).mean(0),
        "flipped_fraction": flipped.mean(0),
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


def occlusion_aggregate(model, digits: Digits, digit: int, count: int, patch: int, stride: int, fill: float,
                        progress: Progress | None = None) -> dict:
    """aggregate_parts over the first `count` correctly classified test images of `digit`, with their indices."""
    candidates = np.flatnonzero(digits.test_labels == digit)
    chosen = as_float_images(digits.test_images[candidates])
    base = predict(model, chosen).numpy()
    keep = np.flatnonzero(base.argmax(1) == digit)[:count]
    many = occlusion_probabilities(model, chosen[keep], patch, stride, fill, progress=progress)
    aggregate = aggregate_parts(chosen[keep, 0].numpy(), many, base[keep, digit], digit, patch, stride)
    aggregate["indices"] = candidates[keep]
    return aggregate
