"""`nnscope layers`: every module of a model with its type, output shape for one input and parameters."""

from nnscope.cli.common import add_command
from nnscope.cli.model_options import add_model_options, model_options
from nnscope.cli.tables import print_table


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "layers",
        description="Load a model (an nnscope checkpoint, a TorchScript file, a torch.export .pt2 program or "
        "FILE.py:NAME with --weights), run it once on one input of --input-shape (or --image's size) and list "
        "every module as named_modules() names it: its type, its output shape for one image (without the batch "
        "dimension), the parameters it holds itself, and the order in which first calls start. The conv layers are listed in "
        "forward order, as the analyses number them. Loading FILE.py:NAME runs that file's code.",
        run=run, show=show,
    )
    add_model_options(parser)


def run(args):
    """Load the model and list its layers (`run_layers`, what a notebook calls)."""
    from nnscope.models import load_model_from_options  # torch: only once the options parsed
    from nnscope.models.summary import run_layers

    return run_layers(load_model_from_options(model_options(args)))


def show(result: dict, console) -> None:
    from rich.table import Table
    from nnscope.models.summary import shape_words  # torch: loaded by run already

    table = Table("layer", "type", "output per image", "parameters", "order", title=result["model"])
    for layer in result["layers"]:
        depth = layer["name"].count(".") + (1 if layer["name"] else 0)
        name = "  " * depth + (layer["name"].rsplit(".", 1)[-1] if layer["name"] else "(model)")
        order = "-" if layer["call_order"] is None else f"#{layer['call_order'] + 1}"
        table.add_row(name, layer["type"], shape_words(layer["output_shape"]), f"{layer['parameters']:,}", order)
    print_table(console, table)
    c, h, w = result["input_shape"]
    size = "this size only" if result["fixed_size"] else "other sizes too"
    console.print(f"input {c} x {h} x {w} ({size}), {result['classes']} classes, "
                  f"{result['parameters']:,} parameters", highlight=False)
    console.print("conv layers in forward order: " + (", ".join(result["conv_layers"]) or "none"), highlight=False)
    if not result["shapes_observed"]:
        console.print("TorchScript runs outside Python: inner output shapes are not observable and the order "
                      "is that of its compiled code", highlight=False)
