"""`nnscope shift`: a correctly classified digit shifted left and right, and the whole-test-set shift sweep."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_example_options, log, options_from_args, progress_bar
from nnscope.options.shift import PADDINGS, SIDE, ShiftOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "shift",
        description="Shift a correctly classified test digit left and right by --pixels, filling the pixels that "
        "come in by --padding (clamp: the closest valid pixel, so for a left shift by k column j takes column "
        "min(j+k, 27); zero: black; reflect: mirrored about the edge pixel; wrap: from the other side), and "
        "classify the original and both shifted images. Then, unless --no-sweep, measure the accuracy over the "
        "whole test set for every shift from -N to +N pixels in x and in y and every padding mode, per digit too.\n"
        "Writes OUT/shift_example.png and, with the sweep, OUT/shift_sweep.png and OUT/shift_per_digit.png.",
        run=run, show=show,
    )
    add_example_options(parser, digit=ShiftOptions.digit, verb="shift")
    parser.add_argument("--pixels", type=int, default=ShiftOptions.pixels, metavar="N",
                        help=f"how far to shift left and right, 0-{SIDE - 1} pixels")
    parser.add_argument("--padding", default=ShiftOptions.padding,
                        help=f"how to fill the pixels that come in: {', '.join(PADDINGS)}")
    parser.add_argument("--sweep-max", type=int, default=ShiftOptions.sweep_max, metavar="N",
                        help=f"the sweep covers shifts -N..+N pixels in x and in y, N from 1 to {SIDE - 1}")
    parser.add_argument("--images", "--sweep-images", dest="sweep_images", type=int, default=ShiftOptions.sweep_images,
                        metavar="N", help="the sweep uses the first N test images (default: the whole test set)")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                        help="skip the whole-test-set sweep (about 100 passes over the test images)")


def run(args) -> dict:
    options = options_from_args(ShiftOptions, args)
    options.check()
    for note in options.ignored():
        log(note)
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.shift import run_shift

    model = load_model(args.checkpoint)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    if not options.sweep:
        return {"out": str(args.out), **run_shift(model, digits, options, out=args.out)}
    with progress_bar("shift sweep", total=2 * len(PADDINGS) * (2 * options.sweep_max + 1)) as advance:
        result = run_shift(model, digits, options, out=args.out, progress=lambda done, total, info: advance(1, info))
    return {"out": str(args.out), **result}


def show(result: dict, console) -> None:
    table = Table("image", "prediction", "p(prediction)", f"p('{result['digit']}')", "top 3",
                  title=f"test image {result['index']} (a '{result['digit']}'), shifted {result['pixels']} px, "
                  f"{result['padding']} padding")
    for key in ("left", "original", "right"):
        view = result[key]
        probabilities = view["probabilities"]
        top3 = sorted(range(10), key=lambda c: -probabilities[c])[:3]
        table.add_row(key, str(view["prediction"]), f"{probabilities[view['prediction']]:.4f}",
                      f"{probabilities[result['digit']]:.4f}", ", ".join(f"{c}: {probabilities[c]:.3f}" for c in top3))
    console.print(table)
    if "sweep" in result:
        sweep = result["sweep"]
        for axis in ("x", "y"):
            shifts = [int(s) for s in sweep["shifts"]]
            table = Table("padding", *[f"{s:+d}" for s in shifts], title=f"test accuracy (%) for shifts in {axis}")
            for padding in sweep["paddings"]:
                table.add_row(padding, *[f"{100 * a:.1f}" for a in sweep["accuracy"][axis][padding]])
            console.print(table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)
