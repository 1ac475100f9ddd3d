"""What one analyze of the live page computes, for any loaded model (nnscope.models.LoadedModel): the class
probabilities with the model's class names, the feature maps of its first conv layers in forward order
(forward hooks; a TorchScript model runs outside Python and has none), the occlusion maps of the predicted
class (the one occlusion engine, exact) and, on the digit page, the prediction of the image shifted left
and right with clamp padding."""

import time

import numpy as np
import torch

from nnscope.vision.occlusion import model_occlusion, occlusion_maps
from nnscope.vision.occlusion.aggregate import grey
from nnscope.vision.occlusion.parts import ten_digits
from nnscope.vision.shift import shift_images

FEATURE_LAYERS = 3  # the page shows the first three conv layers, as Problem 1 asks
NO_HOOKS = "a TorchScript model runs outside Python, where forward hooks never fire: no feature maps"
SHIFTS = range(-6, 7)  # the shift slider: -6..+6 pixels in x, clamp padding, as the report's slider
SHIFT_PADDING = "clamp"


def digit_page(loaded) -> bool:
    """Whether the model reads 1 x 28 x 28 images of the ten digits: the page of MNIST (drawing pad, test
    images, shift slider); any other model gets the page sized to its input."""
    return tuple(loaded.input_shape) == (1, 28, 28) and ten_digits(loaded.class_names)


def feature_layers(loaded) -> tuple[str, ...]:
    """The conv layers whose maps the page shows: the first FEATURE_LAYERS in forward order."""
    return loaded.conv_layers[:FEATURE_LAYERS]


def describe_model(loaded, start_image: np.ndarray | None = None, source: str | None = None) -> dict:
    """What the page and GET /api/model say of the model: input shape, class names, every layer (name,
    type, output shape, parameters), the conv layers the feature maps show, and the starting picture."""
    output_shapes = {layer["name"]: layer["output_shape"] for layer in loaded.layers}
    shown = [] if loaded.format == "torchscript" else feature_layers(loaded)
    return {
        "model": loaded.source, "format": loaded.format, "input_shape": list(loaded.input_shape),
        "classes": list(loaded.class_names),
        "layers": [{"name": layer["name"], "type": layer["type"], "output_shape": layer["output_shape"],
                    "parameters": layer["parameters"]} for layer in loaded.layers if layer["name"]],
        "feature_layers": [{"name": name, "output_shape": output_shapes.get(name)} for name in shown],
        "feature_maps_note": NO_HOOKS if loaded.format == "torchscript" else None,
        "parameters": next(layer["total_parameters"] for layer in loaded.layers if layer["name"] == ""),
        "test_images": 0,
        "start_image": None if start_image is None else grey(np.asarray(start_image, np.float32)).tolist(),
        "start_source": source if start_image is not None else None,
    }


def hooked_maps(loaded, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """The logits of `x` (1, C, H, W) and the output of each feature layer for it, from forward hooks."""
    if loaded.format == "torchscript":
        with torch.no_grad():
            return loaded.module(x), {}
    maps, handles = {}, []
    for name in feature_layers(loaded):
        def keep(module, inputs, output, name=name):
            maps.setdefault(name, output[0].detach().cpu().numpy())  # first call; a padded batch's first image
        handles.append(loaded.layer(name).register_forward_hook(keep))
    try:
        with torch.no_grad():
            logits = loaded.module(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, maps


def probabilities_of(loaded, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, classes) of float images (N, C, H, W) in [0, 1]."""
    with torch.no_grad():
        return torch.softmax(loaded.module(torch.as_tensor(images, dtype=torch.float32).to(loaded.device)), 1).cpu().numpy()


def shift_predictions(loaded, image: np.ndarray) -> dict:
    """The image (C, H, W) shifted by each of SHIFTS pixels in x with clamp padding, classified."""
    moved = np.stack([shift_images(image, dx, 0, SHIFT_PADDING) for dx in SHIFTS])  # (S, C, H, W)
    probabilities = probabilities_of(loaded, moved)
    return {"padding": SHIFT_PADDING, "axis": "x", "shifts": list(SHIFTS),
            "predictions": probabilities.argmax(1).tolist(), "probabilities": probabilities.tolist()}


def analyze(loaded, image: np.ndarray, patch: int = 8, stride: int = 1, fill=(0.0,)) -> dict:
    """Everything the page shows of one image (C, H, W) float32 in [0, 1], as JSON-ready lists.

    The occlusion maps are of the predicted class ("true_class_probability" is P(predicted class),
    the name the report and `nnscope occlude` give the map); `occlusion.probabilities` holds every class's
    per position for the explorer; `seconds` is the time this call took."""
    start = time.perf_counter()
    fill = tuple(np.atleast_1d(fill).tolist())
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None].to(loaded.device)
    logits, maps = hooked_maps(loaded, x)
    probabilities = torch.softmax(logits, 1)[0].cpu().numpy()
    prediction = int(probabilities.argmax())
    occluded = model_occlusion(loaded, x, patch, stride, fill)
    result = {
        "prediction": prediction,
        "class_name": loaded.class_names[prediction],
        "class_names": list(loaded.class_names),
        "probabilities": probabilities.tolist(),
        "input": grey(image).tolist(),
        "feature_maps": {name: values.tolist() for name, values in maps.items()},
        "feature_maps_note": NO_HOOKS if loaded.format == "torchscript" else None,
        "occlusion": {"patch": patch, "stride": stride, "fill": fill[0] if len(fill) == 1 else list(fill),
                      "class": prediction, "row_starts": occluded.row_starts, "col_starts": occluded.col_starts,
                      "starts": occluded.row_starts, "engine": occluded.engine,
                      **{name: values.tolist() for name, values in occlusion_maps(occluded.probabilities[0], prediction).items()},
                      "probabilities": occluded.probabilities[0].tolist()},
    }
    if digit_page(loaded):
        result["shift"] = shift_predictions(loaded, image)
    result["seconds"] = time.perf_counter() - start
    return result
