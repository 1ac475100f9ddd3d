"""What one analyze of the live page computes on any model (`nnscope serve --model SPEC`): the class
probabilities with the model's class names, the feature maps of its first conv layers in forward order
(forward hooks; a TorchScript model runs outside Python and has none) and the occlusion maps of the
predicted class from the any-model engine (exact). nnscope's own CNN keeps analysis.py."""

import time

import numpy as np
import torch

from nnscope.vision.occlusion import occlusion_maps
from nnscope.vision.occlusion.any_model import model_occlusion_probabilities

FEATURE_LAYERS = 3  # the page shows the first three conv layers, as Problem 1 asks
NO_HOOKS = "a TorchScript model runs outside Python, where forward hooks never fire: no feature maps"


def feature_layers(loaded) -> tuple[str, ...]:
    """The conv layers whose maps the page shows: the first FEATURE_LAYERS in forward order."""
    return loaded.conv_layers[:FEATURE_LAYERS]


def describe_user_model(loaded, start_image: np.ndarray | None = None, source: str | None = None) -> dict:
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
        "start_image": None if start_image is None else np.asarray(start_image, np.float32).tolist(),
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


def analyze_user(loaded, image: np.ndarray, patch: int, stride: int, fill: tuple[float, ...]) -> dict:
    """Everything the page shows of one image (C, H, W) float32 in [0, 1] on any loaded model, as JSON-ready
    lists: the answer of analysis.analyze with the model's class names, row and column starts, and no shift."""
    start = time.perf_counter()
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None].to(loaded.device)
    logits, maps = hooked_maps(loaded, x)
    probabilities = torch.softmax(logits, 1)[0].cpu().numpy()
    prediction = int(probabilities.argmax())
    occluded, rows, cols, engine = model_occlusion_probabilities(loaded, x, (patch, patch), (stride, stride), fill)
    result = {
        "prediction": prediction,
        "class_name": loaded.class_names[prediction],
        "class_names": list(loaded.class_names),
        "probabilities": probabilities.tolist(),
        "input": image.tolist(),
        "feature_maps": {name: values.tolist() for name, values in maps.items()},
        "feature_maps_note": NO_HOOKS if loaded.format == "torchscript" else None,
        "occlusion": {"patch": patch, "stride": stride, "fill": fill[0] if len(fill) == 1 else list(fill),
                      "class": prediction, "starts": list(rows), "col_starts": list(cols), "engine": engine,
                      **{name: values.tolist() for name, values in occlusion_maps(occluded[0], prediction).items()},
                      "probabilities": occluded[0].tolist()},
    }
    result["seconds"] = time.perf_counter() - start
    return result
