"""The learned filters of the convolutional layers, as arrays and summary statistics.

A conv layer's weight is (out_channels, in_channels, k, k): one filter per output channel, each a
stack of k x k slices, one per input channel. The model's convs have no bias (batch norm adds the
shift), so the weights are the whole filter.
"""

from pathlib import Path

import numpy as np
import torch

from nnscope.data import Digits
from nnscope.errors import NnscopeError
from nnscope.findings.filters import describe_filters
from nnscope.options.filters import FiltersOptions
from nnscope.progress import Progress
from nnscope.report.records import figure
from nnscope.report.figures_filters import draw_filters


def check_layers(model: torch.nn.Module, layers) -> list[str]:
    """`layers` if every name is a conv layer of `model`, else a clear error."""
    known = model.conv_layer_names
    for name in layers:
        if name not in known:
            raise NnscopeError(f"--layer: unknown layer {name!r}; expected some of {', '.join(known)}")
    return list(layers)


def filter_weights(model: torch.nn.Module, layers=FiltersOptions.layers) -> dict[str, np.ndarray]:
    """Per conv layer name, its weights as a float32 array (out_channels, in_channels, k, k)."""
    return {name: getattr(model, name).weight.detach().cpu().numpy().copy() for name in check_layers(model, layers)}


def filter_statistics(weights: np.ndarray) -> dict:
    """Shape and summary numbers of one layer's weights (out, in, k, k)."""
    norms = np.sqrt((weights.astype(np.float64) ** 2).sum(axis=(1, 2, 3)))  # L2 norm of each output filter
    return {
        "shape": list(weights.shape),
        "parameters": int(weights.size),
        "mean": float(weights.mean()),
        "std": float(weights.std()),
        "min": float(weights.min()),
        "max": float(weights.max()),
        "abs_max": float(np.abs(weights).max()),
        "share_positive": float((weights > 0).mean()),
        "filter_norms": norms,
        "strongest_filter": int(norms.argmax()),
        "weakest_filter": int(norms.argmin()),
    }


def run_filters(model: torch.nn.Module, data: Digits | None = None, options: FiltersOptions = FiltersOptions(),
                out: str | Path | None = None, progress: Progress | None = None) -> dict:
    """Problem 1.1: each layer's statistics and, with `out`, its figure OUT/filters_<layer>.png; `data` is unused."""
    options.check()
    layers, figures = {}, []
    weights = filter_weights(model, options.layers)
    for done, (name, w) in enumerate(weights.items(), start=1):
        layers[name] = filter_statistics(w)
        if out is not None:
            out_channels, in_channels, k, _ = w.shape
            record = figure(out, draw_filters(name, w, Path(out) / f"filters_{name}.png"),
                            f"The {out_channels} filters of {name}, each {in_channels} x {k} x {k} weights, on one "
                            "blue-white-red scale centred at zero (blue negative, red positive).",
                            f"{name}: every filter, one row per output filter and one tile per input channel."
                            if in_channels > 1 else f"{name}: every {k}x{k} kernel.")
            layers[name]["figure"] = record["file"]
            figures.append(record)
        if progress:
            progress(done, len(weights), name)
    result = {"layers": layers, "figures": figures}
    result["finding"] = describe_filters(result)
    return result
