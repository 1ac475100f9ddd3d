"""`nnscope attack`: patches cut from other digits pasted onto a digit until the model changes its
mind (Problem 2.3), with every success verified and the success rate over many test images; on any
model with --model SPEC and --data PATH (the donors and the success rate), the image from --image or
picked from --data."""

from collections import Counter
from dataclasses import replace
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_data_options, add_out_option, add_user_model_options,
                                lazy_progress_display, log, log_index_ignored_with_image, log_unused_mnist_options,
                                not_nnscope_checkpoint, note_other_dataset, options_from_args, wants_user_model)
from nnscope.cli.tables import print_table
from nnscope.errors import NnscopeError
from nnscope.options.attack import AttackOptions

NEEDS_DATA = ("--data: the attack on {model} needs a labelled data set for its donors and success rate; give "
              "--data DIR (an image folder tree, IDX files or an .npz); only nnscope's own CNN takes them from the "
              "MNIST test set")


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "attack",
        description="Cut --sizes x --sizes squares from correctly classified test images of the other nine digits "
        "(--donors per digit) and paste each over the same place of the chosen digit, at every position on and "
        "around its strokes (stride 1), searching in batches for pastes the model classifies as another digit. "
        "Every success is rebuilt as a plain image and re-classified by a full forward pass. Then measure the "
        "success rate over --images correctly classified test images of the digit (pastes on a grid of "
        "--rate-stride pixels).\nWrites OUT/transplant_examples.png when some paste succeeds.\n"
        "Your own model: --model SPEC (see the model options) with --data PATH, a labelled data set (required, "
        "but for nnscope's own CNN, which then uses the MNIST test set: the donors are the first --donors correctly "
        "classified images of each other class of it, and the success rate runs over its images of the attacked "
        "class). The attacked image is --image (its class: --digit, else "
        "the model's prediction), else the image --index of --data, else the first correctly classified image of "
        "class --digit (an index or a class name; default: any class). Any C x H x W: --sizes up to min(H, W); the "
        "pastes go on and around the ink of a grey image with a dark background, at every position of the whole "
        "grid otherwise (the result says which), in batches of plain forward passes through the model.",
        run=run, show=show,
    )
    add_user_model_options(parser, "the donors and the success rate (required with your own model; nnscope's CNN: "
                           "default the MNIST test set)")
    add_out_option(parser)
    add_data_options(parser)
    parser.add_argument("--digit", default=None, metavar="D",
                        help=f"which digit to attack (MNIST test set: default {AttackOptions.digit}); on your own "
                        "model a class of --data, by index or name (default: any class)")
    parser.add_argument("--index", type=int, default=None, metavar="I",
                        help="index into the test set or --data of the image (default: the first correctly "
                        "classified one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(AttackOptions.sizes), metavar="PX",
                        help="sides of the pasted squares in pixels (at most the image's min(H, W))")
    parser.add_argument("--donors", type=int, default=AttackOptions.donors, metavar="K",
                        help="donor images per other digit (class)")
    parser.add_argument("--images", "--rate-images", type=int, default=AttackOptions.images, metavar="N",
                        help="measure the success rate over the first N correctly classified test images of the "
                        "digit (or --data images of the class; 0: skip)")
    parser.add_argument("--rate-stride", type=int, default=AttackOptions.rate_stride, metavar="PX",
                        help="pixels between the paste positions of the success rate")


def digit_of(text: str | None):
    """--digit as given: None, a whole number, or (your own model only) a class name to look up in --data."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def run(args) -> dict:
    digit = digit_of(args.digit)
    if wants_user_model(args):
        return run_on_user_model(args, digit)
    if isinstance(digit, str):
        raise NnscopeError(f"--digit: {digit!r}; expected a whole number from 0 to 9 (a class name needs --data)")
    options = replace(options_from_args(AttackOptions, args), digit=AttackOptions.digit if digit is None else digit)
    options.check()  # before the slow loading, and before any line says what will be searched
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.attack import run_attack

    model = load_model(args.model)
    digits = load_digits(args.dataset, args.data_dir, log=log)
    note_other_dataset(model, digits)
    log(f"searching pastes of {len(set(options.sizes))} sizes from {9 * options.donors} donors ...")
    return {**run_attack(model, digits, options, out=args.out), "out": str(args.out)}


def run_on_user_model(args, digit) -> dict:
    """The any-model path: --model and its companions, --image or a pick from --data, donors from --data
    (nnscope's own CNN without --data: the MNIST test set, as on the MNIST path)."""
    options = replace(options_from_args(AttackOptions, args), digit=digit if isinstance(digit, int) else None)
    options.check(side=10**9, classes=10**9)  # the sizes and the class once the model and the image are known
    if args.data is None and not_nnscope_checkpoint(args.model):  # before the slow loading
        raise NnscopeError(NEEDS_DATA.format(model=args.model))
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.cli.model_options import model_options
    from nnscope.labelled_data import pick_classes
    from nnscope.vision.occlusion.any_model import nnscope_cnn, test_set_as_labelled
    from nnscope.vision.user_attack import run_user_attack
    from nnscope.vision.user_model import load_model_image_and_data

    loaded, image, data = load_model_image_and_data(model_options(args), args.data)
    if data is None and nnscope_cnn(loaded) is None:
        raise NnscopeError(NEEDS_DATA.format(model=loaded.source))
    if data is None:  # nnscope's CNN: donors and success rate from the MNIST test set
        from nnscope.data import load_digits

        log_index_ignored_with_image(args)
        data = test_set_as_labelled(load_digits(args.dataset, args.data_dir, log=log))
    else:
        log_unused_mnist_options(args)
    if isinstance(digit, str):
        options = replace(options, digit=pick_classes(data.class_names, [digit], "--digit")[0])
    with lazy_progress_display("transplant search") as progress:  # a bad input fails before the bar shows
        result = run_user_attack(loaded, data, image, options, out=args.out, progress=progress,
                                 image_name=str(args.image))
    return {**result, "out": str(args.out)}


def show(result: dict, console) -> None:
    digit, successes = result["digit"], result["successes"]
    user = "model" in result  # any model: its class names, images of --data
    names = result.get("class_names") or [str(k) for k in range(10)]
    word = "image" if user else "test"
    if user:
        c, h, w = result["image_shape"]
        console.print(f"{result['model']}: classes {', '.join(names)}", highlight=False)
        what = f"{result['source']} (a '{names[digit]}', {c} x {h} x {w}), pastes {result['positions']}"
    else:
        what = f"test image {result['index']} (a '{digit}')"
    console.print(f"{what}: {result['candidates']:,} pastes tried, {len(successes):,} change the label (verified by a "
                  f"full forward pass) in {result['seconds']:.1f} s", highlight=False)
    if successes:
        console.print(f"smallest patch that works: {result['smallest_patch']}x{result['smallest_patch']}; "
                      f"{'classes' if user else 'digits'} reached: "
                      f"{', '.join(names[k] for k in result['reachable_digits'])}", highlight=False)
        table = Table("patch", "successes", "new labels (count)", title="successes by patch size")
        for size in result["sizes"]:
            mine = [s for s in successes if s["patch_size"] == size]
            labels = Counter(s["prediction"] for s in mine)
            table.add_row(f"{size}x{size}", str(len(mine)),
                          ", ".join(f"'{names[k]}': {v}" for k, v in sorted(labels.items())))
        print_table(console, table)
        table = Table("donor", "cut at", "pasted at", "size", "new label", "p", title="examples drawn")
        for k in result["examples"]:
            s = successes[k]
            table.add_row(f"{word} {s['donor_index']} ('{names[s['donor_digit']]}')",
                          f"({s['source_row']}, {s['source_col']})", f"({s['target_row']}, {s['target_col']})",
                          str(s["patch_size"]), f"'{names[s['prediction']]}'", f"{s['probabilities'][s['prediction']]:.3f}")
        print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    if result["figures"]:
        console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]),
                      highlight=False)
