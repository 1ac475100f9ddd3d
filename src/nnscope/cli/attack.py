"""`nnscope attack`: patches cut from other digits pasted onto a digit until the model changes its
mind (Problem 2.3), with every success verified and the success rate over many test images."""

from collections import Counter
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_example_options, log, note_other_dataset, options_from_args
from nnscope.options.attack import AttackOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "attack",
        description="Cut --sizes x --sizes squares from correctly classified test images of the other nine digits "
        "(--donors per digit) and paste each over the same place of the chosen digit, at every position on and "
        "around its strokes (stride 1), searching in batches for pastes the model classifies as another digit. "
        "Every success is rebuilt as a plain image and re-classified by a full forward pass. Then measure the "
        "success rate over --images correctly classified test images of the digit (pastes on a grid of "
        "--rate-stride pixels).\nWrites OUT/transplant_examples.png when some paste succeeds.",
        run=run, show=show,
    )
    add_example_options(parser, digit=AttackOptions.digit, verb="attack")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(AttackOptions.sizes), metavar="PX",
                        help="sides of the pasted squares in pixels")
    parser.add_argument("--donors", type=int, default=AttackOptions.donors, metavar="K",
                        help="donor images per other digit")
    parser.add_argument("--images", "--rate-images", type=int, default=AttackOptions.images, metavar="N",
                        help="measure the success rate over the first N correctly classified test images of the "
                        "digit (0: skip)")
    parser.add_argument("--rate-stride", type=int, default=AttackOptions.rate_stride, metavar="PX",
                        help="pixels between the paste positions of the success rate")


def run(args) -> dict:
    options = options_from_args(AttackOptions, args)
    options.check()  # before the slow loading, and before any line says what will be searched
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.attack import run_attack

    model = load_model(args.checkpoint)
    digits = load_digits(args.dataset, args.data_dir, log=log)
    note_other_dataset(model, digits)
    log(f"searching pastes of {len(set(options.sizes))} sizes from {9 * options.donors} donors ...")
    return {**run_attack(model, digits, options, out=args.out), "out": str(args.out)}


def show(result: dict, console) -> None:
    digit, successes = result["digit"], result["successes"]
    console.print(f"test image {result['index']} (a '{digit}'): {result['candidates']:,} pastes tried, "
                  f"{len(successes):,} change the label (verified by a full forward pass) in {result['seconds']:.1f} s",
                  highlight=False)
    if successes:
        console.print(f"smallest patch that works: {result['smallest_patch']}x{result['smallest_patch']}; "
                      f"digits reached: {', '.join(map(str, result['reachable_digits']))}", highlight=False)
        table = Table("patch", "successes", "new labels (count)", title="successes by patch size")
        for size in result["sizes"]:
            mine = [s for s in successes if s["patch_size"] == size]
            labels = Counter(s["prediction"] for s in mine)
            table.add_row(f"{size}x{size}", str(len(mine)), ", ".join(f"'{k}': {v}" for k, v in sorted(labels.items())))
        console.print(table)
        table = Table("donor", "cut at", "pasted at", "size", "new label", "p", title="examples drawn")
        for k in result["examples"]:
            s = successes[k]
            table.add_row(f"test {s['donor_index']} ('{s['donor_digit']}')", f"({s['source_row']}, {s['source_col']})",
                          f"({s['target_row']}, {s['target_col']})", str(s["patch_size"]), f"'{s['prediction']}'",
                          f"{s['probabilities'][s['prediction']]:.3f}")
        console.print(table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    if result["figures"]:
        console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]),
                      highlight=False)
