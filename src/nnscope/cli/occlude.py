"""`nnscope occlude`: occlusion maps of one digit and which parts matter (Problem 2.1-2.2), or of the
whole test set into one .npz (--all), sharded over processes under torchrun."""

import time

import numpy as np
import torch
from rich.table import Table

from nnscope import distributed
from nnscope.cli.common import add_command, add_example_options, log, progress_bar
from nnscope.data import as_float_images, load_digits
from nnscope.errors import NnscopeError
from nnscope.model import load_model
from nnscope.outputs import check_output_file
from nnscope.vision import kernels
from nnscope.vision.examples import check_digit
from nnscope.vision.occlusion import check_geometry, occlusion_probabilities, patch_starts, save_probabilities
from nnscope.vision.occlusion_regions import occlusion_analysis, regions_without_masks


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "occlude", help="occlusion maps of a digit and which parts matter (Problem 2.1-2.2)",
        description="Slide a --patch x --patch square of grey --fill (0 = black) over a correctly classified test "
        "digit, left to right and top to bottom with --stride, and record at every position the ten class "
        "probabilities: maps of the true class's probability, the highest probability and the predicted label "
        "(map cell (r, c) = the patch whose top-left corner is at pixel row r, column c). Then say which parts "
        "of the digit matter, for this image and averaged over --aggregate test images of the digit.\n"
        "Writes OUT/occlusion_maps.png, OUT/occlusion_parts.png, OUT/occlusion_aggregate.png.\n"
        "--all instead computes the probabilities for the whole test set (or --limit N images) into one .npz "
        "(--npz): probabilities (N, rows, cols, 10) float32, labels, indices, patch, stride, fill, loops (C or "
        "torch: whether nnscope's C loops, compiled with the system's cc, computed them).\n"
        "--all uses every torch thread of one process, or one thread per process under torchrun, which writes "
        "the same file byte for byte: torchrun --nproc_per_node 2 -m nnscope occlude --all",
        run=run, show=show,
    )
    add_example_options(parser, digit=6, verb="occlude")
    parser.add_argument("--patch", type=int, default=8, help="side of the square patch in pixels, 1-28")
    parser.add_argument("--stride", type=int, default=1, help="step between patch positions in pixels")
    parser.add_argument("--fill", type=float, default=0.0, help="grey value of the patch, 0 (black) to 1 (white)")
    parser.add_argument("--aggregate", type=int, default=100, metavar="N",
                        help="also average over the first N correctly classified test images of the digit (0: skip)")
    parser.add_argument("--all", action="store_true", help="compute the maps of the whole test set into --npz")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="with --all: only the first N test images")
    parser.add_argument("--npz", default=None, metavar="PATH", help="with --all: output file (default OUT/occlusion_all.npz)")


def run(args) -> dict:
    if args.all:  # the output file, before the whole test set is computed
        check_output_file("--npz" if args.npz else "--out", args.npz or args.out / "occlusion_all.npz")
    check_digit(args.digit)  # check every option before the slow loading
    check_geometry(args.patch, args.stride, args.fill)
    if args.aggregate < 0:
        raise NnscopeError(f"--aggregate: {args.aggregate}; expected a number of images >= 0")
    if args.limit is not None and args.limit < 1:
        raise NnscopeError(f"--limit: {args.limit}; expected a number of images >= 1")
    model = load_model(args.checkpoint)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    if args.all:
        return run_all(args, model, digits)
    from nnscope.report.figures_occlusion import draw_aggregate, draw_occlusion_maps, draw_parts

    start = time.perf_counter()
    result = occlusion_analysis(model, digits, args.digit, args.index, args.patch, args.stride, args.fill,
                                args.aggregate)
    result["seconds"] = time.perf_counter() - start
    figures = [draw_occlusion_maps(result, args.out / "occlusion_maps.png"),
               draw_parts(result, args.out / "occlusion_parts.png")]
    if "aggregate" in result:
        figures.append(draw_aggregate(result, args.out / "occlusion_aggregate.png"))
    result["figures"] = [str(f) for f in figures]
    regions = result.pop("regions")
    result["which_parts_matter"] = regions_without_masks(regions)
    return result


def run_all(args, model, digits) -> dict:
    """Probabilities for the first --limit test images, sharded by groups of images over the processes."""
    distributed.init()
    # the maps do not depend on the thread count (each batch runs on one thread), so a process
    # alone uses every torch thread; under torchrun the processes share the cores, one thread each
    if distributed.world_size() > 1:
        torch.set_num_threads(1)
    count = min(args.limit or len(digits.test_images), len(digits.test_images))
    group = 64  # images per group: every process computes whole groups, so any split gives the same numbers
    groups = distributed.shard(-(-count // group))
    mine = range(groups.start * group, min(count, groups.stop * group))
    images = as_float_images(digits.test_images[mine.start : mine.stop])
    start = time.perf_counter()
    with progress_bar(f"occlusion maps (rank {distributed.rank()})", total=len(mine)) as advance:
        probabilities = occlusion_probabilities(model, images, args.patch, args.stride, args.fill,
                                                images_per_group=group, progress=advance)
    seconds = time.perf_counter() - start
    parts = distributed.gather_objects((probabilities, seconds))
    path = args.npz or (args.out / "occlusion_all.npz")
    loops = "C" if kernels.for_model(model.config) is not None else "torch"
    result = {"images": count, "patch": args.patch, "stride": args.stride, "fill": args.fill,
              "positions": len(patch_starts(args.patch, args.stride)) ** 2, "processes": distributed.world_size(),
              "loops": loops, "seconds": max(s for _, s in parts), "npz": str(path)}
    result["images_per_second"] = count / result["seconds"] if result["seconds"] else float("inf")
    if distributed.rank() == 0:
        save_probabilities(path, np.concatenate([p for p, _ in parts]), digits.test_labels[:count],
                           args.patch, args.stride, args.fill, loops)
    distributed.barrier()
    return result


def show(result: dict, console) -> None:
    if "npz" in result:
        console.print(f"occlusion maps of {result['images']} test images ({result['positions']} positions each, "
                      f"patch {result['patch']}, stride {result['stride']}, fill {result['fill']:g}) in "
                      f"{result['seconds']:.1f} s = {result['images_per_second']:.1f} images/s on "
                      f"{result['processes']} process(es), {result['loops']} loops: {result['npz']}", highlight=False)
        return
    digit, maps = result["digit"], result
    table = Table("", "value", title=f"occlusion of test image {result['index']} (a '{digit}'), "
                  f"{result['patch']}x{result['patch']} patch, fill {result['fill']:g}, stride {result['stride']}")
    table.add_row(f"P('{digit}') unoccluded", f"{result['unoccluded_probabilities'][digit]:.4f}")
    table.add_row(f"P('{digit}') over positions", f"min {np.min(maps['true_class_probability']):.4f}, "
                  f"mean {np.mean(maps['true_class_probability']):.4f}")
    table.add_row("labels seen", ", ".join(f"'{k}': {v}" for k, v in
                                         zip(*np.unique(maps["predicted_label"], return_counts=True))))
    table.add_row("time", f"{result['seconds']:.2f} s")
    console.print(table)
    parts = result["which_parts_matter"]["parts"]
    table = Table("part", "ink pixels", f"mean drop of P('{digit}')", "share of ink hidden by critical patches",
                  title="which parts matter")
    for name, p in sorted(parts.items(), key=lambda kv: -kv[1]["mean_drop"]):
        table.add_row(name, str(p["pixels"]), f"{p['mean_drop']:.3f}", f"{p['hidden_share']:.0%}")
    console.print(table)
    for line in result["which_parts_matter"]["text"] + result.get("aggregate", {}).get("text", []):
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(result["figures"]), highlight=False)
