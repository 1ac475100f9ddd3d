"""What one analyze of the live page computes, on the entry points of the commands and the report:
probabilities, the conv layers' feature maps, the occlusion maps of the predicted class (incremental
engine, exact) and the prediction of the image shifted left and right with clamp padding."""

import time

import numpy as np
import torch

from nnscope.model import CNN, count_parameters
from nnscope.vision.occlusion import occlusion_maps, occlusion_probabilities, patch_starts
from nnscope.vision.shift import shift_image

SHIFTS = range(-6, 7)  # the shift slider: -6..+6 pixels in x, clamp padding, as the report's slider
SHIFT_PADDING = "clamp"


def probabilities_of(model: CNN, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, classes) of float images (N, 1, 28, 28) in [0, 1]."""
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(images, dtype=torch.float32)), 1).numpy()


def describe_model(model: CNN) -> dict:
    """Layers (with the output shape measured by one pass of a black image), input shape, classes."""
    activations = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda module, inputs, output, name=name: activations.__setitem__(name, tuple(output.shape[1:])))
        for name in [*model.conv_layer_names, "fc"]]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
    finally:
        for hook in hooks:
            hook.remove()
    layers = [{"name": name, "kind": "conv", "in_channels": conv.in_channels, "out_channels": conv.out_channels,
               "kernel_size": conv.kernel_size[0], "pool_after": pool, "output_shape": list(activations[name])}
              for name, pool in zip(model.conv_layer_names, model.config.pool_after)
              for conv in [getattr(model, name)]]
    layers.append({"name": "fc", "kind": "linear", "in_features": model.fc.in_features,
                   "out_features": model.fc.out_features, "output_shape": list(activations["fc"])})
    return {"input_shape": [1, 28, 28], "classes": [str(k) for k in range(model.config.classes)],
            "layers": layers, "parameters": count_parameters(model)}


def shift_predictions(model: CNN, image: np.ndarray) -> dict:
    """The image (28, 28) shifted by each of SHIFTS pixels in x with clamp padding, classified."""
    moved = np.stack([shift_image(image, dx, 0, SHIFT_PADDING) for dx in SHIFTS])[:, None]  # (S, 1, 28, 28)
    probabilities = probabilities_of(model, moved)
    return {"padding": SHIFT_PADDING, "axis": "x", "shifts": list(SHIFTS),
            "predictions": probabilities.argmax(1).tolist(), "probabilities": probabilities.tolist()}


def analyze(model: CNN, image: np.ndarray, patch: int = 8, stride: int = 1, fill: float = 0.0) -> dict:
    """Everything the page shows of one image (1, 28, 28) float32 in [0, 1], as JSON-ready lists.

    The occlusion maps are of the predicted class ("true_class_probability" is P(predicted class),
    the name the report and `nnscope occlude` give the map); `occlusion.probabilities` holds all ten
    per position for the explorer; `seconds` is the time this call took."""
    start = time.perf_counter()
    x = torch.as_tensor(image, dtype=torch.float32)[None]  # (1, 1, 28, 28)
    with torch.no_grad():
        logits, activations = model.forward_with_activations(x)
    probabilities = torch.softmax(logits, 1)[0].numpy()  # (10,)
    prediction = int(probabilities.argmax())
    occluded = occlusion_probabilities(model, x, patch, stride, fill)[0]  # (rows, cols, 10)
    maps = occlusion_maps(occluded, prediction)
    result = {
        "prediction": prediction,
        "probabilities": probabilities.tolist(),
        "input": image[0].tolist(),
        "feature_maps": {name: activations[name][0].numpy().tolist() for name in model.conv_layer_names},
        "occlusion": {"patch": patch, "stride": stride, "fill": fill, "class": prediction,
                      "starts": patch_starts(patch, stride).tolist(),
                      **{name: values.tolist() for name, values in maps.items()},
                      "probabilities": occluded.tolist()},
        "shift": shift_predictions(model, image[0]),
    }
    result["seconds"] = time.perf_counter() - start
    return result
