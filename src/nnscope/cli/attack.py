"""`nnscope attack`: patches cut from other digits pasted onto a digit until the model changes its
mind (Problem 2.3), with every success verified and the success rate over many test images."""

import time
from collections import Counter

from rich.table import Table

from nnscope.cli.common import add_command, add_example_options, log
from nnscope.data import as_float_images, load_digits
from nnscope.model import load_model
from nnscope.vision.examples import check_digit
from nnscope.vision.transplant import DEFAULT_SIZES, check_sizes, examples_to_draw, transplant_attack


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "attack",
        description="Cut --sizes x --sizes squares from correctly classified test images of the other nine digits "
        "(--donors per digit) and paste each over the same place of the chosen digit, at every position on and "
        "around its strokes (stride 1), searching in batches for pastes the model classifies as another digit. "
        "Every success is rebuilt as a plain image and re-classified by a full forward pass. Then measure the "
        "success rate over --rate-images correctly classified test images of the digit (pastes on a grid of "
        "--rate-stride pixels).\nWrites OUT/transplant_examples.png.",
        run=run, show=show,
    )
    add_example_options(parser, digit=6, verb="attack")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="S",
                        help="sides of the pasted squares in pixels")
    parser.add_argument("--donors", type=int, default=2, metavar="K", help="donor images per other digit")
    parser.add_argument("--rate-images", type=int, default=30, metavar="N",
                        help="measure the success rate over the first N correctly classified images (0: skip)")
    parser.add_argument("--rate-stride", type=int, default=2, metavar="S", help="paste grid for the success rate")


def run(args) -> dict:
    check_digit(args.digit)  # check the options before the slow loading
    check_sizes(args.sizes)
    model = load_model(args.checkpoint)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    start = time.perf_counter()
    log(f"searching pastes of {len(args.sizes)} sizes from {9 * args.donors} donors ...")
    result = transplant_attack(model, digits, args.digit, args.index, args.sizes, args.donors, args.rate_images,
                               args.rate_stride)
    result["seconds"] = time.perf_counter() - start
    from nnscope.report.figures_occlusion import draw_transplants

    examples = examples_to_draw(result["successes"])
    donor_images = as_float_images(digits.test_images[[s["donor_index"] for s in examples]])[:, 0].numpy()
    result["figures"] = [str(draw_transplants(result, examples, donor_images, args.out / "transplant_examples.png"))]
    result["examples"] = [result["successes"].index(s) for s in examples]  # positions in successes
    return result


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
    if "rate" in result:
        rate = result["rate"]
        console.print(f"success rate over {rate['images']} test '{digit}'s (pastes every {rate['stride']} px): "
                      f"{rate['rate']:.0%}; by patch size: " + ", ".join(
                          f"{s}x{s} {r:.0%}" for s, r in rate["rate_by_size"].items())
                      + "; digits reached (images): " + ", ".join(
                          f"'{k}' {v}" for k, v in rate["reachable_digits"].items()), highlight=False)
    console.print("figures: " + ", ".join(result["figures"]), highlight=False)
