"""`nnscope shift`: a correctly classified digit shifted left and right, and the whole-test-set shift sweep."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_example_options, log, log_unused_mnist_options, note_other_dataset,
                                options_from_args, progress_bar, wants_user_model)
from nnscope.cli.tables import print_table
from nnscope.options.shift import PADDINGS, SIDE, ShiftOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "shift",
        description="Shift a correctly classified test digit left and right by --pixels, filling the pixels that "
        "come in by --padding (clamp: the closest valid pixel, so for a left shift by k column j takes column "
        "min(j+k, 27); zero: black; reflect: mirrored about the edge pixel; wrap: from the other side), and "
        "classify the original and both shifted images. Then, unless --no-sweep, measure the accuracy over the "
        "whole test set for every shift from -N to +N pixels in x and in y and every padding mode, per digit too.\n"
        "Writes OUT/shift_example.png and, with the sweep, OUT/shift_sweep.png and OUT/shift_per_digit.png.\n"
        "On your own model (--model): the image is --image, else the first correctly classified image of class "
        "--digit (an index) in --data; any C x H x W, shifts up to the image's side; the sweep runs over --data "
        "(without --data it is skipped, and the result says so).",
        run=run, show=show,
    )
    add_example_options(parser, digit=ShiftOptions.digit, verb="shift (on your own model: a class index of --data)",
                        data_use="the example and the shift sweep")
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
    user = wants_user_model(args)
    # a user model's image size and classes are known once it is loaded: checked again then
    options.check(side=10**9, classes=10**9) if user else options.check()
    for note in options.ignored():
        log(note)
    if user:
        return run_on_user_model(args, options)
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.shift import run_shift

    model = load_model(Path(args.model))
    digits = load_digits(args.dataset, args.data_dir, log=log)
    note_other_dataset(model, digits)
    if not options.sweep:
        return {"out": str(args.out), **run_shift(model, digits, options, out=args.out)}
    with progress_bar("shift sweep", total=2 * len(PADDINGS) * (2 * options.sweep_max + 1)) as advance:
        result = run_shift(model, digits, options, out=args.out, progress=lambda done, total, info: advance(1, info))
    return {"out": str(args.out), **result}


def run_on_user_model(args, options: ShiftOptions) -> dict:
    """The generic path: --model and its companions, --image or --data, the sweep over --data."""
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.cli.model_options import model_options
    from nnscope.errors import NnscopeError
    from nnscope.vision.user_model import load_model_image_and_data
    from nnscope.vision.user_shift import check_user_shift, run_user_shift

    log_unused_mnist_options(args)
    loaded, image, data = load_model_image_and_data(model_options(args), args.data)
    if image is None and data is None:
        raise NnscopeError("--image: on your own model give --image PATH or --data DIR for the image to shift")
    check_user_shift(loaded, data, image, options)  # before the progress bar
    if data is None or not options.sweep:
        result = run_user_shift(loaded, data, image, options, out=args.out)
        if options.sweep:
            log("no --data given: the sweep over a labelled data set is skipped")
        return {"out": str(args.out), **result}
    with progress_bar("shift sweep", total=2 * len(PADDINGS) * (2 * options.sweep_max + 1)) as advance:
        result = run_user_shift(loaded, data, image, options, out=args.out,
                                progress=lambda done, total, info: advance(1, info))
    return {"out": str(args.out), **result}


def show(result: dict, console) -> None:
    if "model" in result:
        return show_user(result, console)
    table = Table("image", "prediction", "p(prediction)", f"p('{result['digit']}')", "top 3",
                  title=f"test image {result['index']} (a '{result['digit']}'), shifted {result['pixels']} px, "
                  f"{result['padding']} padding")
    for key in ("left", "original", "right"):
        view = result[key]
        probabilities = view["probabilities"]
        top3 = sorted(range(10), key=lambda c: -probabilities[c])[:3]
        table.add_row(key, str(view["prediction"]), f"{probabilities[view['prediction']]:.4f}",
                      f"{probabilities[result['digit']]:.4f}", ", ".join(f"{c}: {probabilities[c]:.3f}" for c in top3))
    print_table(console, table)
    show_sweep_and_finding(result, console, "test accuracy")


def show_sweep_and_finding(result: dict, console, measure: str) -> None:
    """The sweep's tables (one per axis, `measure` in their titles), the finding and the figure paths."""
    if "sweep" in result:
        sweep = result["sweep"]
        for axis in ("x", "y"):
            shifts = [int(s) for s in sweep["shifts"]]
            table = Table("padding", *[f"{s:+d}" for s in shifts], title=f"{measure} (%) for shifts in {axis}")
            for padding in sweep["paddings"]:
                table.add_row(padding, *[f"{100 * a:.1f}" for a in sweep["accuracy"][axis][padding]])
            print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)


def show_user(result: dict, console) -> None:
    """The generic path's view: the three images' predictions, the sweep tables, the finding and the figures."""
    names = result["class_names"]
    table = Table("image", "prediction", "p(prediction)", "top 3",
                  title=f"{result['source']}, shifted {result['pixels']} px, {result['padding']} padding")
    for key in ("left", "original", "right"):
        p = result[key]["probabilities"]
        top3 = sorted(range(len(p)), key=lambda c: -p[c])[:3]
        table.add_row(key, names[result[key]["prediction"]], f"{p[result[key]['prediction']]:.4f}",
                      ", ".join(f"{names[c]}: {p[c]:.3f}" for c in top3))
    print_table(console, table)
    show_sweep_and_finding(result, console, "accuracy")
