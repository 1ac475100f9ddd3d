"""`nnscope shift`: a correctly classified digit shifted left and right, and the whole-test-set shift sweep."""

from rich.table import Table

from nnscope.cli.common import add_command, add_example_options, log, progress_bar
from nnscope.data import load_digits
from nnscope.errors import NnscopeError
from nnscope.model import load_model
from nnscope.vision.examples import check_digit
from nnscope.report.figures_problem1 import draw_shift_example, draw_shift_per_digit, draw_shift_sweep
from nnscope.vision.shift import PADDINGS, SWEEP_MAX_SHIFT, check_padding, check_shift, describe_shift, shift_experiment, shift_sweep


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "shift",
        description="Shift a correctly classified test digit left and right by --pixels, filling the pixels that "
        "come in by --padding (clamp: the closest valid pixel, so for a left shift by k column j takes column "
        "min(j+k, 27); zero: black; reflect: mirrored about the edge pixel; wrap: from the other side), and "
        "classify the original and both shifted images. Then, unless --no-sweep, measure the accuracy over the "
        "whole test set for every shift from -N to +N pixels in x and in y and every padding mode, per digit too.\n"
        "Writes OUT/shift_example.png, OUT/shift_sweep.png and OUT/shift_per_digit.png.",
        run=run, show=show,
    )
    add_example_options(parser, digit=1, verb="shift")
    parser.add_argument("--pixels", type=int, default=3, help="how far to shift left and right, 0-27 pixels")
    parser.add_argument("--padding", default="clamp", help=f"how to fill the pixels that come in: {', '.join(PADDINGS)}")
    parser.add_argument("--sweep-max", type=int, default=SWEEP_MAX_SHIFT, metavar="N",
                        help="the sweep covers shifts -N..+N pixels in x and in y")
    parser.add_argument("--sweep-images", type=int, default=None, metavar="N",
                        help="sweep over the first N test images only; None: all 10,000")
    parser.add_argument("--no-sweep", action="store_true", help="skip the whole-test-set sweep (about 100 passes)")


def run(args) -> dict:
    check_digit(args.digit)  # check the options before the slow loading
    check_shift(args.pixels)
    check_padding(args.padding)
    if not args.no_sweep:
        check_shift(args.sweep_max, "--sweep-max")
        if args.sweep_images is not None and args.sweep_images < 1:
            raise NnscopeError(f"--sweep-images: {args.sweep_images}; expected a whole number >= 1")
    model = load_model(args.checkpoint)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    result = shift_experiment(model, digits, args.digit, args.pixels, args.padding, args.index)
    figures = [draw_shift_example(result, args.out / "shift_example.png")]
    if not args.no_sweep:
        evaluations = 2 * len(PADDINGS) * (2 * args.sweep_max + 1)
        with progress_bar("shift sweep", total=evaluations) as advance:
            sweep = shift_sweep(model, digits, args.sweep_max, limit=args.sweep_images,
                                progress=lambda done, total, info: advance(1, info))
        figures += [draw_shift_sweep(sweep, args.out / "shift_sweep.png"),
                    draw_shift_per_digit(sweep, args.out / "shift_per_digit.png", padding=args.padding)]
        result["sweep"] = sweep
    result["finding"] = describe_shift(result)
    result["figures"] = [str(f) for f in figures]
    return result


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
    console.print("figures: " + ", ".join(result["figures"]), highlight=False)
