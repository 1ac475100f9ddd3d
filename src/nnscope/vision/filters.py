"""The learned filters of a model's conv layers (any nn.Conv2d), as arrays and summary statistics.

A conv weight is (out, in / groups, kh, kw): one filter per output channel, each a stack of kh x kw
slices, one per input channel of its group. Filters are weights: no image is needed to read them.
A layer with more filters or slices than fit legibly on a page is summarised in its main figure by
its strongest filters (L2 norm) and, per filter, its strongest input slices; the result says which.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from nnscope.errors import NnscopeError
from nnscope.findings.filters import describe_filters
from nnscope.labelled_data import LabelledImages
from nnscope.models import LoadedModel
from nnscope.options.filters import FiltersOptions
from nnscope.progress import Progress
from nnscope.results import Result

MAX_FILTERS = 64  # kernels drawn in a grid (one input slice, or RGB); more are summarised by the strongest
MAX_ROWS = 32  # filters drawn as rows of input slices; more are summarised by the strongest
MAX_SLICES = 16  # input slices drawn per filter; more are summarised by the strongest


@dataclass
class FiltersResult(Result):
    """Per conv layer its statistics (`layers`) and weights (kept for the figures, not in the JSON)."""

    title = "filters"
    model: str  # what was loaded
    layers: dict[str, dict]  # layer name -> statistics, grouping, the filters and slices the figure shows
    weights: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # (out, in / groups, kh, kw) each
    every_filter: bool = True  # a summarised layer also gets the whole grid as a figure
    figures: list[dict] = field(default_factory=list)
    finding: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in super().as_dict().items() if k != "weights"}


def conv_layer(model: LoadedModel, name: str) -> nn.Module:
    """The Conv2d named `name` (a TorchScript or exported one too); an unknown name lists close matches, another
    module type says what it is."""
    module = model.layer(name, "--layer")
    weight = getattr(module, "weight", None)
    if not (isinstance(module, nn.Conv2d) or name in model.conv_layers) or not isinstance(weight, torch.Tensor) \
            or weight.ndim != 4:
        convs = ", ".join(model.conv_layers) or "none"
        raise NnscopeError(f"--layer: {name!r} is a {type(module).__name__}, not a Conv2d; conv layers in forward "
                           f"order: {convs}")
    return module


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


def layer_filters(module: nn.Module) -> dict:
    """Statistics of one conv layer's weights, its grouping, and which filters and slices its figure shows."""
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


def measure_filters(model: LoadedModel, data: LabelledImages | None = None,
                    options: FiltersOptions = FiltersOptions(), progress: Progress | None = None) -> FiltersResult:
    """Problem 1.1 on any model: each named Conv2d's statistics (default: the first three in forward order);
    `data` is not used (filters are weights)."""
    options.check()
    names = list(options.layers) if options.layers else list(model.conv_layers[:3])
    if not names:
        raise NnscopeError(f"--layer: {model.source} has no Conv2d layer to draw")
    modules = {name: conv_layer(model, name) for name in names}  # every name checked before any work
    result = FiltersResult(model=model.source, layers={}, weights={}, every_filter=options.every_filter)
    for done, (name, module) in enumerate(modules.items(), start=1):
        result.layers[name] = layer_filters(module)
        result.weights[name] = module.weight.detach().cpu().float().numpy().copy()  # drawing cannot change the model
        if progress:
            progress(done, len(modules), name)
    result.finding = describe_filters({"layers": result.layers})
    return result
