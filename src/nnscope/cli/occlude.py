"""`nnscope occlude`: occlusion maps of one digit and which parts matter (Problem 2.1-2.2), or of the
whole test set into one .npz (--all), sharded over processes under torchrun; on any model with
--model SPEC and --image PATH or --data PATH (any size, channels, patch and fill)."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_model_and_data_options, add_out_option, lazy_progress_display, log,
                                log_index_ignored_with_image, model_data_and_image)
from nnscope.cli.tables import print_table
from nnscope.errors import NnscopeError
from nnscope.options.checks import ignored
from nnscope.options.occlusion import AGGREGATE_IMAGES, MNIST_DIGIT, SHARD_SIZE, SIDE, OcclusionOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "occlude",
        description="Slide a --patch square (or --patch H W) of value --fill (0 = black) over a correctly classified "
        "image, left to right and top to bottom with --stride, and record at every position the class "
        "probabilities: maps of the target class's probability, the highest probability and the predicted label "
        "(map cell (r, c) = the patch whose top-left corner is at pixel row r, column c). The positions follow "
        "Captum's rule: from 0 every --stride pixels until the patch has covered the last pixel (the last patch may "
        "stick out of the image); a --stride larger than the patch is refused (pixels no patch hides). Then say "
        "which parts of the image matter (the digit's strokes for a digit, a 3 x 3 grid of regions otherwise), for "
        "this image and averaged over --images images of its class.\n"
        "Any model (--model SPEC, see the model options), any labelled data (--data PATH; default the MNIST test "
        "set, whose default digit is 6) or one --image; the engine is chosen for the model: nnscope's CNN engine "
        "(C loops), the traced incremental engine, or plain full passes where the model cannot be traced.\n"
        "Writes OUT/occlusion_maps.png, OUT/occlusion_parts.png, OUT/occlusion_aggregate.png.\n"
        "--drill-down R computes that image's map approximately: exactly at every 2nd row and column of "
        "positions, then exactly only at the top R share of the positions by the change of the target's output "
        "and their neighbours, interpolated elsewhere (R = 1: the exact map).\n"
        "--all instead computes the probabilities for every image of the data (or its first --images N) into one "
        ".npz (--npz): probabilities (N, rows, cols, K) float32 (rows x cols x K x 4 bytes per image), labels, "
        "indices, unoccluded_probabilities, class_mean_maps (K, rows, cols: mean P(label) per class), class_counts, "
        "flip_share (per image, the share of positions predicted otherwise than its label), most_flipped and "
        "most_flipped_share (the 10 correctly classified images with the largest share), row_starts, col_starts, "
        "patch, stride, fill, loops (C or torch: whether nnscope's C loops computed them), versions. It goes "
        "through shard files of --shard-size images (--shards DIR, kept; default: beside the .npz, removed at the "
        "end): after an interruption the same command resumes, keeping the shards already written.\n"
        "--all uses every torch thread of one process, or one thread per process under torchrun, which writes "
        "the same file byte for byte: torchrun --nproc_per_node 2 -m nnscope occlude --all\n",
        run=run, show=show,
    )
    add_model_and_data_options(parser, "the image to occlude (--index, else the first correctly classified, of "
                               "--digit's class when given) and the aggregate",
                               without_data="else the MNIST test set, unless an --image is occluded alone")
    add_out_option(parser)
    parser.add_argument("--digit", type=int, default=None, metavar="D",
                        help=f"the class of the image to pick (data of the ten digits: default {MNIST_DIGIT}; "
                        "other data: default any class)")
    parser.add_argument("--index", type=int, default=None, metavar="I",
                        help="index of the image in the test set or --data (default: the first correctly classified one)")
    parser.add_argument("--patch", type=int, nargs="+", default=[OcclusionOptions.patch], metavar="PX",
                        help=f"side of the square patch in pixels (1 to {SIDE} on MNIST), or its height and width")
    parser.add_argument("--stride", type=int, nargs="+", default=[OcclusionOptions.stride], metavar="PX",
                        help="step between patch positions in pixels, or the vertical and horizontal steps")
    parser.add_argument("--fill", type=float, nargs="+", default=[OcclusionOptions.fill], metavar="VALUE",
                        help="value of the patch, 0 (black) to 1 (white): one for every channel or one per channel")
    parser.add_argument("--target", type=int, default=None, metavar="K",
                        help="class of the first map (default: the image's label when known, else the prediction)")
    parser.add_argument("--images", "--aggregate", type=int, default=OcclusionOptions.images, metavar="N",
                        help="without --all, average over the first N correctly classified images of the class "
                        f"(default {AGGREGATE_IMAGES}; 0: no average); with --all, the first N images of the data "
                        "(default: all of them)")
    parser.add_argument("--all", action="store_true", help="compute the maps of every image of the data into --npz")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="with --all: the first N images, as --images")
    parser.add_argument("--npz", default=OcclusionOptions.npz, metavar="PATH",
                        help="with --all: output file (default: OUT/occlusion_all.npz)")
    parser.add_argument("--shards", default=None, metavar="DIR",
                        help="with --all: keep the shard files in DIR (default: NPZ.shards, removed once merged); "
                        "a rerun keeps the shards written with the same options and refuses others")
    parser.add_argument("--shard-size", type=int, default=SHARD_SIZE, metavar="N",
                        help=f"with --all: images per shard file (default {SHARD_SIZE}): the most an interruption "
                        "loses, and the maps held in memory at once")
    parser.add_argument("--drill-down", type=float, default=None, metavar="R",
                        help="one image: an approximate map, exact at a coarse grid and at the top R share (0 < R "
                        "<= 1) of the positions and their neighbours, interpolated elsewhere (default: exact)")


def occlusion_options(args) -> OcclusionOptions:
    """The options of the command line, checked (those that need the image: once it is read); --limit is
    --images in --all's words."""
    images = args.images
    if args.limit is not None:
        if not args.all:
            raise NnscopeError("--limit: only with --all (the first N images); "
                               "the average over images of the class takes --images N")
        if args.images is not None and args.images != args.limit:
            raise NnscopeError(f"--limit {args.limit} and --images {args.images}: two counts for one thing; give one")
        images = args.limit
    if args.all and (args.image is not None or len(set(args.patch)) > 1 or len(set(args.stride)) > 1
                     or len(set(args.fill)) > 1 or args.target is not None):
        raise NnscopeError("--all: the maps of every image of the data into one .npz take a square patch, one "
                           "stride and one fill value; not with --image or --target")
    options = OcclusionOptions(digit=args.digit, index=args.index, patch=tuple(args.patch), stride=tuple(args.stride),
                               fill=tuple(args.fill), target=args.target, images=images, test_set=args.all,
                               npz=args.npz, shards=args.shards, shard_size=args.shard_size,
                               drill_down=args.drill_down)
    options.check()
    return options


def run(args) -> dict:
    options = occlusion_options(args)  # every option checked before the slow loading
    log_index_ignored_with_image(args)
    for option, mode in options.ignored():
        log(ignored(option, mode))
    if options.test_set and options.npz is not None:
        from nnscope.outputs import check_output_file  # numpy: not for --help

        check_output_file("--npz", options.npz)  # an output path before the model and the data
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope import distributed
    from nnscope.analyses import run_occlusion

    # the data: --data, --dataset, the model's own, else the MNIST test set (whose default digit is 6), unless
    # an --image is occluded alone
    loaded, data, image = model_data_and_image(args, default_dataset=None if args.image is not None else "mnist")
    what = f"occlusion maps (rank {distributed.rank()})" if options.test_set else "occlusion maps"
    with lazy_progress_display(what) as progress:  # a bad option fails before the bar shows
        result = run_occlusion(loaded, data, options, out=args.out, progress=progress, image=image,
                               image_name=str(args.image))
    if result.get("aggregate_skipped"):
        log(result["aggregate_skipped"])
    return {**result.as_dict(), "out": str(args.out)}


def show(result: dict, console) -> None:
    if "npz" in result:
        for line in result["finding"]:
            console.print(line, highlight=False)
        return
    target, true_map, names = result["target"], result["true_class_probability"], result["class_names"]
    patch, stride, fill = (f"{result[k]:g}" if isinstance(result[k], (int, float)) else " x ".join(f"{v:g}" for v in result[k])
                           for k in ("patch", "stride", "fill"))
    patch = f"{patch} x {patch}" if isinstance(result["patch"], int) else patch
    unoccluded = result["unoccluded_probabilities"]
    what = (f"a '{names[result['label']]}'" if result["label"] is not None
            else f"classified '{names[int(unoccluded.argmax())]}'")
    table = Table("", "value", title=f"occlusion of {result['source']} ({what}), {patch} patch "
                  f"(height x width), fill {fill}, stride {stride}")
    table.add_row(f"P('{names[target]}') unoccluded", f"{unoccluded[target]:.4f}")
    table.add_row(f"P('{names[target]}') over positions", f"min {true_map.min():.4f}, mean {true_map.mean():.4f}")
    table.add_row("labels seen", ", ".join(f"'{names[k]}': {int(n)}" for k, n in enumerate(
        (result["predicted_label"] == k).sum() for k in range(len(names))) if n))
    table.add_row("engine", result["engine"])
    table.add_row("class of map 1", f"'{names[target]}' (from the {result['target_from']})")
    table.add_row("time", f"{result['seconds']:.2f} s")
    print_table(console, table)
    parts = result["which_parts_matter"]["parts"]
    split = result["which_parts_matter"]["split"]
    pixels = "ink pixels" if split == "digit parts" else "pixels"
    table = Table("part", pixels, f"mean drop of P('{names[target]}')", f"share of {pixels} hidden by critical patches",
                  title=f"which parts matter ({split})")
    for name, p in sorted(parts.items(), key=lambda kv: -kv[1]["mean_drop"]):
        table.add_row(name, str(p["pixels"]), f"{p['mean_drop']:.3f}", f"{p['hidden_share']:.0%}")
    print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]),
                  highlight=False)
