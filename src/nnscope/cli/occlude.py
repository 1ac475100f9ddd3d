"""`nnscope occlude`: occlusion maps of one digit and which parts matter (Problem 2.1-2.2), or of the
whole test set into one .npz (--all), sharded over processes under torchrun."""

import dataclasses
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_example_options, log, note_other_dataset, options_from_args,
                                progress_display)
from nnscope.errors import NnscopeError
from nnscope.options.checks import ignored
from nnscope.options.occlusion import AGGREGATE_IMAGES, SIDE, OcclusionOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "occlude",
        description="Slide a --patch x --patch square of grey --fill (0 = black) over a correctly classified test "
        "digit, left to right and top to bottom with --stride, and record at every position the ten class "
        "probabilities: maps of the true class's probability, the highest probability and the predicted label "
        "(map cell (r, c) = the patch whose top-left corner is at pixel row r, column c). Then say which parts "
        "of the digit matter, for this image and averaged over --images test images of the digit.\n"
        "Writes OUT/occlusion_maps.png, OUT/occlusion_parts.png, OUT/occlusion_aggregate.png.\n"
        "--all instead computes the probabilities for the whole test set (or its first --images N) into one .npz "
        "(--npz): probabilities (N, rows, cols, 10) float32, labels, indices, patch, stride, fill, loops (C or "
        "torch: whether nnscope's C loops, compiled with the system's cc, computed them).\n"
        "--all uses every torch thread of one process, or one thread per process under torchrun, which writes "
        "the same file byte for byte: torchrun --nproc_per_node 2 -m nnscope occlude --all",
        run=run, show=show,
    )
    add_example_options(parser, digit=OcclusionOptions.digit, verb="occlude")
    parser.add_argument("--patch", type=int, default=OcclusionOptions.patch, metavar="PX",
                        help=f"side of the square patch in pixels, 1 to {SIDE}")
    parser.add_argument("--stride", type=int, default=OcclusionOptions.stride, metavar="PX",
                        help="step between patch positions in pixels")
    parser.add_argument("--fill", type=float, default=OcclusionOptions.fill, metavar="GREY",
                        help="grey value of the patch, 0 (black) to 1 (white)")
    parser.add_argument("--images", "--aggregate", type=int, default=OcclusionOptions.images, metavar="N",
                        help="test images: without --all, average over the first N correctly classified test images "
                        f"of the digit (default {AGGREGATE_IMAGES}; 0: no average); with --all, the first N test "
                        "images (default: all of them)")
    parser.add_argument("--all", action="store_true", help="compute the maps of the whole test set into --npz")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="with --all: the first N test images, as --images")
    parser.add_argument("--npz", default=OcclusionOptions.npz, metavar="PATH",
                        help="with --all: output file (default: OUT/occlusion_all.npz)")


def occlusion_options(args) -> OcclusionOptions:
    """The options of the command line, checked; --limit is --images in --all's words."""
    options = options_from_args(OcclusionOptions, args, test_set="all")
    if args.limit is not None:
        if not args.all:
            raise NnscopeError("--limit: only with --all (the first N test images); "
                               "the average over images of the digit takes --images N")
        if args.images is not None and args.images != args.limit:
            raise NnscopeError(f"--limit {args.limit} and --images {args.images}: two counts for one thing; give one")
        options = dataclasses.replace(options, images=args.limit)
    options.check()
    return options


def run(args) -> dict:
    options = occlusion_options(args)  # every option checked before the slow loading
    for option, mode in options.ignored():
        log(ignored(option, mode))
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope import distributed
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.occlusion import run_occlusion

    model = load_model(args.checkpoint)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    note_other_dataset(model, digits)
    if not options.test_set:
        return {**run_occlusion(model, digits, options, out=args.out), "out": str(args.out)}
    with progress_display(f"occlusion maps (rank {distributed.rank()})") as progress:
        return run_occlusion(model, digits, options, out=args.out, progress=progress)


def show(result: dict, console) -> None:
    if "npz" in result:
        for line in result["finding"]:
            console.print(line, highlight=False)
        return
    digit, true_map = result["digit"], result["true_class_probability"]
    table = Table("", "value", title=f"occlusion of test image {result['index']} (a '{digit}'), "
                  f"{result['patch']}x{result['patch']} patch, fill {result['fill']:g}, stride {result['stride']}")
    table.add_row(f"P('{digit}') unoccluded", f"{result['unoccluded_probabilities'][digit]:.4f}")
    table.add_row(f"P('{digit}') over positions", f"min {true_map.min():.4f}, mean {true_map.mean():.4f}")
    table.add_row("labels seen", ", ".join(f"'{k}': {int(n)}" for k, n in enumerate(
        (result["predicted_label"] == k).sum() for k in range(10)) if n))
    table.add_row("time", f"{result['seconds']:.2f} s")
    console.print(table)
    parts = result["which_parts_matter"]["parts"]
    table = Table("part", "ink pixels", f"mean drop of P('{digit}')", "share of ink hidden by critical patches",
                  title="which parts matter")
    for name, p in sorted(parts.items(), key=lambda kv: -kv[1]["mean_drop"]):
        table.add_row(name, str(p["pixels"]), f"{p['mean_drop']:.3f}", f"{p['hidden_share']:.0%}")
    console.print(table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]),
                  highlight=False)
