"""`nnscope filters`: the filters of the first three conv layers as images, and their statistics."""

from rich.table import Table

from nnscope.cli.common import add_checkpoint_option, add_command, add_out_option
from nnscope.model import load_model
from nnscope.report.figures_problem1 import draw_filters
from nnscope.vision.filters import DEFAULT_LAYERS, describe_filters, filter_statistics, filter_weights


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "filters",
        description="Draw every filter of each conv layer: conv1 as a grid of kernels; conv2 and conv3 with one "
        "row per output filter and one tile per input-channel slice. Each layer's figure has one diverging colour "
        "scale centred at zero (blue < 0 < red) with a colour bar. Writes OUT/filters_<layer>.png.",
        run=run, show=show,
    )
    add_checkpoint_option(parser)
    add_out_option(parser)
    parser.add_argument("--layers", nargs="+", default=list(DEFAULT_LAYERS), metavar="LAYER",
                        help="conv layers to draw")


def run(args) -> dict:
    model = load_model(args.checkpoint)
    layers = {}
    for name, weights in filter_weights(model, args.layers).items():
        stats = filter_statistics(weights)
        stats["figure"] = str(draw_filters(name, weights, args.out / f"filters_{name}.png"))
        layers[name] = stats
    return {"checkpoint": str(args.checkpoint), "layers": layers, "description": describe_filters(layers)}


def show(result: dict, console) -> None:
    table = Table("layer", "shape", "min", "max", "mean", "std", "> 0", "strongest", title="conv filters")
    for name, s in result["layers"].items():
        table.add_row(name, "x".join(map(str, s["shape"])), f"{s['min']:+.3f}", f"{s['max']:+.3f}",
                      f"{s['mean']:+.3f}", f"{s['std']:.3f}", f"{s['share_positive']:.0%}",
                      f"#{s['strongest_filter']} ({max(s['filter_norms']):.2f})")
    console.print(table)
    console.print("figures: " + ", ".join(s["figure"] for s in result["layers"].values()), highlight=False)
    for line in result["description"]:
        console.print(line, highlight=False)
