"""`nnscope occlude`: occlusion maps of one digit and which parts matter (Problem 2.1-2.2), or of the
whole test set into one .npz (--all), sharded over processes under torchrun; on any model with
--model SPEC and --image PATH or --data PATH (any size, channels, patch and fill)."""

import dataclasses
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_data_options, add_out_option, lazy_progress_display, log,
                                log_unused_mnist_options, note_other_dataset, options_from_args, progress_display)
from nnscope.cli.model_options import add_model_options, model_options
from nnscope.cli.tables import print_table
from nnscope.errors import NnscopeError
from nnscope.options.checks import ignored
from nnscope.options.occlusion import AGGREGATE_IMAGES, SIDE, ModelOcclusionOptions, OcclusionOptions
from nnscope.outputs import check_output_file


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
        "the same file byte for byte: torchrun --nproc_per_node 2 -m nnscope occlude --all\n"
        "Your own model: --model SPEC (see the model options) with --image PATH or --data PATH (the image picked "
        "by --index): any C x H x W, a patch of --patch H W, a --fill per channel, --target K for map 1; which parts "
        "matter uses a 3 x 3 grid of regions where the digit parts do not apply (RGB, other sizes or classes), "
        "and the aggregate averages images of --data (skipped without it).",
        run=run, show=show,
    )
    add_model_options(parser)
    add_out_option(parser)
    add_data_options(parser)
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="a labelled data set (an image folder tree DIR/<class>/<images>, IDX files or an .npz "
                        "with images and labels): the image to occlude is picked from it (--index, else the first "
                        "correctly classified, of --digit's class when given) and it feeds the aggregate")
    parser.add_argument("--digit", type=int, default=None, metavar="D",
                        help=f"the class of the image to pick (MNIST test set: default {OcclusionOptions.digit}; "
                        "--data: default any class)")
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
    digit = OcclusionOptions.digit if args.digit is None else args.digit
    options = dataclasses.replace(options, digit=digit, patch=args.patch[0], stride=args.stride[0], fill=args.fill[0])
    if args.limit is not None:
        if not args.all:
            raise NnscopeError("--limit: only with --all (the first N test images); "
                               "the average over images of the digit takes --images N")
        if args.images is not None and args.images != args.limit:
            raise NnscopeError(f"--limit {args.limit} and --images {args.images}: two counts for one thing; give one")
        options = dataclasses.replace(options, images=args.limit)
    options.check()
    return options


def any_model_wanted(args) -> bool:
    """Whether the options need the any-model path: an image or data set of the user's, a patch of height
    and width, a fill per channel or a target class."""
    return (args.image is not None or args.data is not None or len(args.patch) > 1 or len(args.stride) > 1
            or len(args.fill) > 1 or args.target is not None)


def model_occlusion_options(args) -> ModelOcclusionOptions:
    """The any-model options of the command line, checked (those that need the image: once it is read)."""
    if args.all or args.limit is not None or args.npz is not None:
        option = "--all" if args.all else "--limit" if args.limit is not None else "--npz"
        raise NnscopeError(f"{option}: the whole MNIST test set into one .npz, on nnscope's CNN; not with --image, "
                           "--data, a patch of height and width, a fill per channel or --target")
    options = ModelOcclusionOptions(patch=tuple(args.patch), stride=tuple(args.stride), fill=tuple(args.fill),
                                    target=args.target, index=args.index, digit=args.digit, images=args.images)
    options.check()
    return options


def run(args) -> dict:
    wanted = any_model_wanted(args)
    # every option checked before the slow loading
    options = model_occlusion_options(args) if wanted else occlusion_options(args)
    model_choice = model_options(args)
    if not wanted:
        for option, mode in options.ignored():
            log(ignored(option, mode))
        if options.test_set and options.npz is not None:
            check_output_file("--npz", options.npz)  # an output path before the model and the test set
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope import distributed
    from nnscope.data import load_digits
    from nnscope.models import load_model_and_image
    from nnscope.vision.occlusion import run_occlusion
    from nnscope.vision.occlusion.any_model import nnscope_cnn, run_model_occlusion, test_set_as_labelled

    if args.data is not None and model_choice.image is None and model_choice.input_shape is None:
        from nnscope.labelled_data import load_labelled_data  # the data's image size probes the model

        shape = load_labelled_data(args.data).input_shape
        model_choice = dataclasses.replace(model_choice, input_shape=shape)
    elif args.data is None and model_choice.image is None and model_choice.input_shape is None:
        model_choice = dataclasses.replace(model_choice, input_shape=(1, SIDE, SIDE))  # the MNIST test set's images
    loaded, image = load_model_and_image(model_choice)
    cnn = nnscope_cnn(loaded)
    if cnn is None and not wanted:  # another model on the MNIST test set: the any-model path
        if options.test_set:
            raise NnscopeError("--all: the whole test set into one .npz runs on nnscope's CNN only; "
                               f"{loaded.source} is another model")
        options = ModelOcclusionOptions(patch=(options.patch,), stride=(options.stride,), fill=(options.fill,),
                                        index=options.index, digit=args.digit, images=args.images)
        wanted = True
    if wanted:
        data = None
        if args.data is not None or image is not None:  # the MNIST test set is not read: say what that leaves unused
            log_unused_mnist_options(args)
        if args.data is not None:
            from nnscope.labelled_data import load_labelled_data

            data = load_labelled_data(args.data, loaded.channels, loaded.image_size)
        elif image is None:
            data = test_set_as_labelled(load_digits(args.dataset, args.data_dir, log=log))
        with lazy_progress_display("occlusion maps") as progress:  # a bad option fails before the bar shows
            result = run_model_occlusion(loaded, data, options, out=args.out, progress=progress, image=image,
                                         image_name=str(model_choice.image))
        if "aggregate_skipped" in result:
            log(result["aggregate_skipped"])
        return {**result, "out": str(args.out)}
    digits = load_digits(args.dataset, args.data_dir, log=log)
    note_other_dataset(cnn, digits)
    if not options.test_set:
        return {**run_occlusion(cnn, digits, options, out=args.out), "out": str(args.out)}
    with progress_display(f"occlusion maps (rank {distributed.rank()})") as progress:
        return run_occlusion(cnn, digits, options, out=args.out, progress=progress)


def show(result: dict, console) -> None:
    if "npz" in result:
        for line in result["finding"]:
            console.print(line, highlight=False)
        return
    digit, true_map = result["digit"], result["true_class_probability"]
    names = result.get("class_names") or [str(k) for k in range(10)]
    patch, stride, fill = (result[k] if isinstance(result[k], (int, float)) else " x ".join(f"{v:g}" for v in result[k])
                           for k in ("patch", "stride", "fill"))
    what = result.get("source", f"test image {result['index']}")
    table = Table("", "value", title=f"occlusion of {what} (a '{names[digit]}'), {patch} patch "
                  f"(height x width), fill {fill}, stride {stride}")
    table.add_row(f"P('{names[digit]}') unoccluded", f"{result['unoccluded_probabilities'][digit]:.4f}")
    table.add_row(f"P('{names[digit]}') over positions", f"min {true_map.min():.4f}, mean {true_map.mean():.4f}")
    table.add_row("labels seen", ", ".join(f"'{names[k]}': {int(n)}" for k, n in enumerate(
        (result["predicted_label"] == k).sum() for k in range(len(names))) if n))
    if "engine" in result:
        table.add_row("engine", result["engine"])
        table.add_row("class of map 1", f"'{names[digit]}' (from the {result['target_from']})")
    table.add_row("time", f"{result['seconds']:.2f} s")
    print_table(console, table)
    parts = result["which_parts_matter"]["parts"]
    split = result["which_parts_matter"].get("split", "digit parts")
    pixels = "ink pixels" if split == "digit parts" else "pixels"
    table = Table("part", pixels, f"mean drop of P('{names[digit]}')", f"share of {pixels} hidden by critical patches",
                  title=f"which parts matter ({split})")
    for name, p in sorted(parts.items(), key=lambda kv: -kv[1]["mean_drop"]):
        table.add_row(name, str(p["pixels"]), f"{p['mean_drop']:.3f}", f"{p['hidden_share']:.0%}")
    print_table(console, table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]),
                  highlight=False)
