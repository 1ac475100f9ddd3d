"""The filters of any `nn.Conv2d` of the user's model: statistics, and a figure a person can read.

A conv weight is (out, in / groups, kh, kw): each filter sees only the input channels of its group.
A layer with more filters or slices than fit on a page is summarised: the strongest filters by L2
norm (and, per filter, its strongest input slices), and the figure and the result say so.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from nnscope.errors import NnscopeError
from nnscope.findings.user_filters import describe_user_filters
from nnscope.report.records import figure
from nnscope.vision.figures_user import draw_user_filters
from nnscope.vision.filters import filter_statistics

MAX_FILTERS = 64  # kernels drawn in a grid (one input slice, or RGB); more are summarised by the strongest
MAX_ROWS = 32  # filters drawn as rows of input slices; more are summarised by the strongest
MAX_SLICES = 16  # input slices drawn per filter; more are summarised by the strongest


def conv_layer(loaded, name: str) -> nn.Module:
    """The Conv2d named `name` (a TorchScript or exported one too); an unknown name lists close matches, another
    module type says what it is."""
    module = loaded.layer(name, "--layer")
    weight = getattr(module, "weight", None)
    if not (isinstance(module, nn.Conv2d) or name in loaded.conv_layers) or not isinstance(weight, torch.Tensor) \
            or weight.ndim != 4:
        convs = ", ".join(loaded.conv_layers) or "none"
        raise NnscopeError(f"--layer: {name!r} is a {type(module).__name__}, not a Conv2d; conv layers in forward "
                           f"order: {convs}")
    return module


def layer_filters(module: nn.Module) -> dict:
    """Statistics of one conv layer's weights, its grouping, and which filters and slices a figure shows."""
    weights = module.weight.detach().cpu().float().numpy()  # (out, in / groups, kh, kw)
    stats = filter_statistics(weights)
    out_channels, per_group, kh, kw = weights.shape
    # a .pt2's settings are read from its graph (nnscope.models.formats): None only where not recorded
    groups = getattr(module, "groups", None)
    setting = lambda key: list(getattr(module, key)) if hasattr(module, key) else None  # noqa: E731
    norms = stats["filter_norms"]
    colour = per_group == 3 and (groups or 1) == 1
    most = MAX_FILTERS if colour or per_group == 1 else MAX_ROWS
    shown = np.sort(np.argsort(-norms, kind="stable")[:most])  # the strongest, in channel order
    slice_norms = np.sqrt((weights[shown].astype(np.float64) ** 2).sum(axis=(2, 3))).sum(0)  # (in / groups,)
    slices = np.sort(np.argsort(-slice_norms, kind="stable")[:MAX_SLICES])
    return {**stats, "groups": None if groups is None else int(groups),
            "in_channels": None if groups is None else int(per_group * groups),
            "kernel": [kh, kw], "stride": setting("stride"), "dilation": setting("dilation"),
            "colour": bool(colour), "shown_filters": shown.tolist(), "shown_slices": slices.tolist(),
            "summarised": bool(len(shown) < out_channels or len(slices) < per_group)}


def run_user_filters(loaded, layers=None, out: str | Path | None = None) -> dict:
    """Problem 1.1 on any model: each named Conv2d's statistics (default: the first three in forward order)
    and, with `out`, OUT/filters_<layer>.png."""
    names = list(layers) if layers else list(loaded.conv_layers[:3])
    if not names:
        raise NnscopeError(f"--layer: {loaded.source} has no Conv2d layer to draw")
    found = {name: layer_filters(conv_layer(loaded, name)) for name in names}
    figures = []
    for name, stats in found.items():
        if out is None:
            continue
        weights = conv_layer(loaded, name).weight.detach().cpu().float().numpy()
        path = draw_user_filters(name, weights, stats, Path(out) / f"filters_{name.replace('/', '_')}.png")
        record = figure(out, path, f"Filters of {name}: {' x '.join(map(str, stats['shape']))} weights"
                        + (", drawn in colour (each kernel's RGB slices as one image)" if stats["colour"] else
                           " on one blue-white-red scale centred at zero"),
                        f"{name}: " + ("the strongest filters by L2 norm" if stats["summarised"] else "every filter"))
        stats["figure"] = record["file"]
        figures.append(record)
    result = {"model": loaded.source, "layers": found, "figures": figures}
    result["finding"] = describe_user_filters(result)
    return result
