"""The main figure of `run_layers`: the parameters each module holds, in the order the forward pass calls them."""

import numpy as np

from nnscope.models.summary import LayersResult, shape_words
from nnscope.report.drawing import drawing_of
from nnscope.report.plotting import plt

MOST_LAYERS = 24  # bars drawn; a larger model shows the modules holding the most parameters


@drawing_of.register
def _(result: LayersResult):
    holding = [layer for layer in result.layers if layer["name"] and layer["parameters"]]
    if len(holding) > MOST_LAYERS:
        kept = sorted(sorted(holding, key=lambda layer: -layer["parameters"])[:MOST_LAYERS], key=holding.index)
        note = f" ({MOST_LAYERS} of {len(holding)} modules with parameters: the largest)"
    else:
        kept, note = holding, ""
    # forward order; a module never called comes last
    kept.sort(key=lambda layer: (layer["call_order"] is None, layer["call_order"] or 0))
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.26 * max(len(kept), 2)))
    counts = np.array([layer["parameters"] for layer in kept], dtype=float)
    rows = np.arange(len(kept))
    colours = ["tab:red" if layer["name"] in result.conv_layers else "tab:gray" for layer in kept]
    ax.barh(rows, counts, color=colours)
    for row, layer in zip(rows, kept):
        ax.text(layer["parameters"], row, f" {layer['parameters']:,}  -> {shape_words(layer['output_shape'], 'x', '?')}",
                va="center", fontsize=7)
    ax.set_yticks(rows, [f"{layer['name']} ({layer['type']})" for layer in kept], fontsize=8)
    ax.invert_yaxis()  # the first layer on top
    ax.set_xscale("log" if len(counts) and counts.max() / max(counts.min(), 1) > 100 else "linear")
    ax.set_xlim(right=(counts.max() if len(counts) else 1) * (8 if ax.get_xscale() == "log" else 1.5))
    ax.set_xlabel("parameters held by the module itself (conv layers in red), output shape per image")
    ax.set_title(f"{result.parameters:,} parameters{note}", fontsize=10)
    fig.tight_layout()
    return fig
