"""`nnscope filters`: the filters of the first three conv layers as images, and their statistics."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_out_option, add_user_model_options, options_from_args, wants_user_model
from nnscope.cli.tables import print_table
from nnscope.options.filters import FiltersOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "filters",
        description="Draw every filter of each conv layer: conv1 as a grid of kernels; conv2 and conv3 with one "
        "row per output filter and one tile per input-channel slice. Each layer's figure has one diverging colour "
        "scale centred at zero (blue < 0 < red) with a colour bar. Writes OUT/filters_<layer>.png.\n"
        "On your own model (--model): any nn.Conv2d by its named_modules() name; RGB first-layer kernels in "
        "colour, grouped and depthwise convs per group, and a layer with more than 64 filters or 16 input "
        "slices shown by its strongest ones (L2 norm), as its title says.",
        run=run, show=show,
    )
    add_user_model_options(parser, data_use="nothing (filters need no data; refused)")
    add_out_option(parser)
    parser.add_argument("--layer", "--layers", dest="layers", nargs="+", default=None, metavar="NAME",
                        help="conv layers to draw, by name (default: conv1 conv2 conv3 for nnscope's checkpoint, "
                        "else the first three Conv2d in forward order)")


def run(args) -> dict:
    if args.data is not None:
        from nnscope.errors import NnscopeError

        raise NnscopeError("--data: filters are the model's weights and use no data; leave --data out")
    user = wants_user_model(args)
    options = FiltersOptions() if args.layers is None else options_from_args(FiltersOptions, args)
    if not user:
        options.check()
    # torch and matplotlib: only once the options are valid (start-up)
    if user:
        from nnscope.cli.model_options import model_options
        from nnscope.models import load_model_from_options
        from nnscope.vision.user_filters import run_user_filters

        loaded = load_model_from_options(model_options(args))
        result = run_user_filters(loaded, args.layers, out=args.out)
        return {"checkpoint": str(args.model), "out": str(args.out), **result}
    from nnscope.model import load_model
    from nnscope.vision.filters import run_filters

    result = run_filters(load_model(Path(args.model)), None, options, out=args.out)
    return {"checkpoint": str(args.model), "out": str(args.out), **result}


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
