"""The learned filters of the convolutional layers, as arrays and summary statistics.

A conv layer's weight is (out_channels, in_channels, k, k): one filter per output channel, each a
stack of k x k slices, one per input channel. The model's convs have no bias (batch norm adds the
shift), so the weights are the whole filter.
"""

import numpy as np
import torch

from nnscope.errors import NnscopeError

DEFAULT_LAYERS = ("conv1", "conv2", "conv3")  # Problem 1.1 asks for the first three


def check_layers(model: torch.nn.Module, layers) -> list[str]:
    """`layers` if every name is a conv layer of `model`, else a clear error."""
    known = model.conv_layer_names
    for name in layers:
        if name not in known:
            raise NnscopeError(f"--layers: unknown layer {name!r}; expected some of {', '.join(known)}")
    return list(layers)


def filter_weights(model: torch.nn.Module, layers=DEFAULT_LAYERS) -> dict[str, np.ndarray]:
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


def filter_summary(model: torch.nn.Module, layers=DEFAULT_LAYERS) -> dict[str, dict]:
    """Per conv layer: the statistics of `filter_statistics`."""
    return {name: filter_statistics(w) for name, w in filter_weights(model, layers).items()}


def describe_filters(summary: dict[str, dict]) -> list[str]:
    """Sentences built from the measured statistics, one per layer."""
    lines = []
    for name, s in summary.items():
        out_channels, in_channels, k, _ = s["shape"]
        norms = s["filter_norms"]
        lines.append(
            f"{name}: {out_channels} filters of {in_channels} x {k} x {k} weights; values from {s['min']:.3f} "
            f"to {s['max']:.3f} (mean {s['mean']:+.3f}, {s['share_positive']:.0%} positive); filter norms "
            f"{norms.min():.3f}-{norms.max():.3f}, strongest filter {s['strongest_filter']}."
        )
    return lines
