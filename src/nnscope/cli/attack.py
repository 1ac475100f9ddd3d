"""`nnscope attack`: patches cut from other digits pasted onto a digit until the model changes its
mind (Problem 2.3), with every success verified and the success rate over many test images; on any
model with --model SPEC and --data PATH (the donors and the success rate), the image from --image or
picked from --data."""

from collections import Counter
from dataclasses import replace
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_model_and_data_options, add_out_option, lazy_progress_display, log,
                                log_index_ignored_with_image, model_data_and_image, options_from_args)
from nnscope.cli.tables import print_table
from nnscope.options.attack import AttackOptions
from nnscope.options.occlusion import MNIST_DIGIT


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "attack",
        description="Cut --sizes x --sizes squares from correctly classified images of the other classes (--donors "
        "per class) and paste each over the same place of the attacked image, at every position on and around its "
        "ink (a grey image with a dark background: a digit) or of the whole grid (any other image), stride 1, and "
        "find the pastes the model classifies as another class. The search runs through the occlusion engine (a "
        "paste is an occlusion whose fill is the donor's image): nnscope's CNN engine, the traced incremental "
        "engine, or plain full passes where the model cannot be traced. Every success is rebuilt as a plain image "
        "and re-classified by a full forward pass. Then measure the success rate over --images correctly "
        "classified images of the class (pastes on a grid of --rate-stride pixels).\n"
        "Any model (--model SPEC, see the model options) and any labelled data (--data PATH; default the MNIST "
        "test set, whose default digit is 6): the donors and the success rate come from it. The attacked image is "
        "--image (its class: --digit, else the model's prediction), else the image --index of the data, else the "
        "first correctly classified image of class --digit (an index or a class name).\n"
        "Writes OUT/transplant_examples.png when some paste succeeds; --table PATH writes every verified success "
        "as CSV (--json keeps the pictures of the drawn examples only).",
        run=run, show=show,
    )
    add_model_and_data_options(parser, "the donors and the success rate", without_data="else the MNIST test set")
    add_out_option(parser)
    parser.add_argument("--digit", default=None, metavar="D",
                        help=f"the class to attack, by index or name (data of the ten digits: default {MNIST_DIGIT}; "
                        "other data: default any class)")
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
    parser.add_argument("--table", type=Path, default=None, metavar="PATH",
                        help="write every verified success to PATH as CSV (donor, size, place, new label, p)")


def digit_of(text: str | None):
    """--digit as given: None, a whole number, or a class name to look up in the data."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def run(args) -> dict:
    digit = digit_of(args.digit)
    options = replace(options_from_args(AttackOptions, args), digit=digit if isinstance(digit, int) else None)
    options.check(side=10**9, classes=10**9)  # the sizes and the class once the model and the image are known
    if args.table is not None:
        from nnscope.outputs import check_output_file  # numpy: not for --help

        check_output_file("--table", args.table)
    log_index_ignored_with_image(args)
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.labelled_data import pick_classes
    from nnscope.problem2 import run_attack

    loaded, data, image = model_data_and_image(args, default_dataset="mnist")  # the donors: MNIST's by default
    if isinstance(digit, str):
        options = replace(options, digit=pick_classes(data.class_names, [digit], "--digit")[0])
    with lazy_progress_display("transplant search") as progress:  # a bad input fails before the bar shows
        result = run_attack(loaded, data, options, out=args.out, progress=progress, image=image,
                            image_name=str(args.image))
    if args.table is not None:
        write_table(args.table, result)
        log(f"every verified success: {args.table}")
    return {**result.as_dict(), "out": str(args.out)}


def write_table(path, result) -> None:
    """Every verified success as CSV, one a row: donor, its class, size, place, new label, its probability."""
    names = result["class_names"]
    rows = ["donor_index,donor_class,patch_size,row,col,new_label,probability"]
    rows += [f"{s['donor_index']},{names[s['donor_digit']]},{s['patch_size']},{s['target_row']},{s['target_col']},"
             f"{names[s['prediction']]},{s['probabilities'][s['prediction']]:.6f}" for s in result["successes"]]
    from nnscope.fileio import atomic_write_text

    atomic_write_text(path, "\n".join(rows) + "\n")


def show(result: dict, console) -> None:
    digit, successes, names = result["digit"], result["successes"], result["class_names"]
    c, h, w = result["image_shape"]
    console.print(f"{result['model']}: classes {', '.join(names)}", highlight=False)
    what = f"{result['source']} (a '{names[digit]}', {c} x {h} x {w}), pastes {result['positions']}"
    console.print(f"{what}: {result['candidates']:,} pastes tried, {len(successes):,} change the label (verified by a "
                  f"full forward pass) in {result['seconds']:.1f} s", highlight=False)
    if successes:
        console.print(f"smallest patch that works: {result['smallest_patch']}x{result['smallest_patch']}; "
                      f"classes reached: {', '.join(names[k] for k in result['reachable_digits'])}", highlight=False)
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
            table.add_row(f"image {s['donor_index']} ('{names[s['donor_digit']]}')",
                          f"({s['source_row']}, {s['source_col']})", f"({s['target_row']}, {s['target_col']})",
                          str(s["patch_size"]), f"'{names[s['prediction']]}'", f"{s['probabilities'][s['prediction']]:.3f}")
        print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    if result["figures"]:
        console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]),
                      highlight=False)
