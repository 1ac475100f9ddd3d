"""`nnscope shift`: a correctly classified image shifted left and right, and the shift sweep over the data."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_model_and_data_options, add_out_option, lazy_progress_display, log,
                                model_data_and_image, options_from_args)
from nnscope.cli.tables import print_table
from nnscope.options.shift import PADDINGS, SIDE, ShiftOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "shift",
        description="Shift an image left and right by --pixels, filling the pixels that come in by --padding "
        "(clamp: the closest valid pixel, so for a left shift by k column j takes column min(j+k, W-1); zero: "
        "black; reflect: mirrored about the edge pixel; wrap: from the other side), and classify the original and "
        "both shifted images. The image is --image, else the first correctly classified image of class --digit in "
        "the data. Then, unless --no-sweep, measure the accuracy over the data for every shift from -N to +N "
        "pixels in x and in y and every padding mode, per class too (without data the sweep is skipped, and the "
        "result says so).\n"
        "Writes OUT/shift_example.png and, with the sweep, OUT/shift_sweep.png and OUT/shift_per_digit.png.",
        run=run, show=show,
    )
    add_model_and_data_options(parser, data_use="the example and the shift sweep")
    add_out_option(parser)
    parser.add_argument("--digit", default=None, metavar="CLASS",
                        help="the class to shift, by name or index (default: '1' on MNIST, else the class of the "
                        "first image of the data the model classifies correctly)")
    parser.add_argument("--index", type=int, default=None, metavar="I",
                        help="index into the data of the image (default: the first correctly classified one)")
    parser.add_argument("--pixels", type=int, default=ShiftOptions.pixels, metavar="N",
                        help=f"how far to shift left and right, 0-{SIDE - 1} pixels (up to the image's side - 1)")
    parser.add_argument("--padding", default=ShiftOptions.padding,
                        help=f"how to fill the pixels that come in: {', '.join(PADDINGS)}")
    parser.add_argument("--sweep-max", type=int, default=ShiftOptions.sweep_max, metavar="N",
                        help=f"the sweep covers shifts -N..+N pixels in x and in y, N from 1 to {SIDE - 1} (up to "
                        "the image's side - 1)")
    parser.add_argument("--images", "--sweep-images", dest="sweep_images", type=int, default=ShiftOptions.sweep_images,
                        metavar="N", help="the sweep uses the first N images of the data (default: all of them)")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                        help="skip the sweep (about 100 passes over the images)")


def run(args) -> dict:
    options = options_from_args(ShiftOptions, args)
    options.check(side=None)  # the image's side is known once it is read: checked against it then
    for note in options.ignored():
        log(note)
    if args.image is not None and args.index is not None:
        log("note: --index is ignored with --image (it picks an image of the data; the analysis is of --image)")
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.analyses import run_shift

    model, data, image = model_data_and_image(args)
    with lazy_progress_display("shift sweep") as progress:  # opens at the sweep's first step: errors come first
        result = run_shift(model, data, options, out=args.out, image=image, progress=progress)
    if result.skipped and options.sweep:
        log(result.skipped)
    return {"out": str(args.out), **result.to_json()}


def show(result: dict, console) -> None:
    names = result["class_names"]
    table = Table("image", "prediction", "p(prediction)", f"p('{names[result['digit']]}')", "top 3",
                  title=f"{result['source']}, shifted {result['pixels']} px, {result['padding']} padding")
    for key in ("left", "original", "right"):
        p = result[key]["probabilities"]
        top3 = sorted(range(len(p)), key=lambda c: -p[c])[:3]
        table.add_row(key, names[result[key]["prediction"]], f"{p[result[key]['prediction']]:.4f}",
                      f"{p[result['digit']]:.4f}", ", ".join(f"{names[c]}: {p[c]:.3f}" for c in top3))
    print_table(console, table)
    if "sweep" in result:
        sweep = result["sweep"]
        for axis in ("x", "y"):
            shifts = [int(s) for s in sweep["shifts"]]
            table = Table("padding", *[f"{s:+d}" for s in shifts], title=f"accuracy (%) for shifts in {axis}")
            for padding in sweep["paddings"]:
                table.add_row(padding, *[f"{100 * a:.1f}" for a in sweep["accuracy"][axis][padding]])
            print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)
