"""`nnscope filters`: the filters of the first three conv layers as images, and their statistics."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_out_option, options_from_args
from nnscope.cli.model_options import add_model_options, model_options
from nnscope.cli.tables import print_table
from nnscope.options.filters import FiltersOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "filters",
        description="Draw the filters of conv layers (any nn.Conv2d, by its named_modules() name; default: the "
        "first three in forward order, conv1 conv2 conv3 for nnscope's CNN), each on one diverging colour scale "
        "centred at zero (blue < 0 < red) with a colour bar: a grid of kernels for one input channel, RGB "
        "first-layer kernels in colour, else one row per output filter and one tile per input-channel slice, "
        "grouped and depthwise convs per group. A layer with more than 32 filter rows (64 kernels) or 16 input "
        "slices is shown by its strongest ones (L2 norm), as its title says, and its whole grid is a second "
        "figure. Writes OUT/filters_<layer>.png (and OUT/filters_<layer>_all.png). Filters are weights: no data "
        "and no input size are needed.",
        run=run, show=show,
    )
    add_model_options(parser, image=False)
    add_out_option(parser)
    parser.add_argument("--layer", "--layers", dest="layers", nargs="+", default=None, metavar="NAME",
                        help="conv layers to draw, by name (default: the first three Conv2d in forward order: "
                        "conv1 conv2 conv3 for nnscope's checkpoint)")


def run(args) -> dict:
    options = options_from_args(FiltersOptions, args)
    options.check()
    choice = model_options(args)
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.analyses import run_filters
    from nnscope.models import load_model_from_options

    result = run_filters(load_model_from_options(choice, input_needed=not options.layers), None, options, out=args.out)
    return {"checkpoint": str(args.model), "out": str(args.out), **result.to_json()}


def show(result: dict, console) -> None:
    table = Table("layer", "shape", "min", "max", "mean", "std", "> 0", "strongest", title="conv filters")
    for name, s in result["layers"].items():
        table.add_row(name, "x".join(map(str, s["shape"])), f"{s['min']:+.3f}", f"{s['max']:+.3f}",
                      f"{s['mean']:+.3f}", f"{s['std']:.3f}", f"{s['share_positive']:.0%}",
                      f"#{s['strongest_filter']} ({max(s['filter_norms']):.2f})")
    print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)
