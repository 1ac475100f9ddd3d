"""`nnscope filters`: the filters of the first three conv layers as images, and their statistics."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_checkpoint_option, add_command, add_out_option, options_from_args
from nnscope.options.filters import FiltersOptions


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
    parser.add_argument("--layer", "--layers", dest="layers", nargs="+", default=FiltersOptions.layers, metavar="NAME",
                        help="conv layers to draw, by name")


def run(args) -> dict:
    options = options_from_args(FiltersOptions, args)
    options.check()
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.model import load_model
    from nnscope.vision.filters import run_filters

    result = run_filters(load_model(args.checkpoint), None, options, out=args.out)
    return {"checkpoint": str(args.checkpoint), "out": str(args.out), **result}


def show(result: dict, console) -> None:
    table = Table("layer", "shape", "min", "max", "mean", "std", "> 0", "strongest", title="conv filters")
    for name, s in result["layers"].items():
        table.add_row(name, "x".join(map(str, s["shape"])), f"{s['min']:+.3f}", f"{s['max']:+.3f}",
                      f"{s['mean']:+.3f}", f"{s['std']:.3f}", f"{s['share_positive']:.0%}",
                      f"#{s['strongest_filter']} ({max(s['filter_norms']):.2f})")
    console.print(table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)
