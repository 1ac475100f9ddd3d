"""`nnscope featuremaps`: feature maps of a '0' and an '8', and the channels that tell them apart."""

from dataclasses import replace
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import (add_command, add_data_options, add_out_option, add_user_model_options, log,
                                log_unused_mnist_options, note_other_dataset, options_from_args, wants_user_model)
from nnscope.cli.tables import print_table
from nnscope.options.featuremaps import FeatureMapsOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "featuremaps",
        description="Show every channel of --layer for a correctly classified example of each digit, on one colour "
        "scale, and their difference. Then, over all test images of the two digits, rank the channels by Cohen's d "
        "of their spatially averaged activation, draw the mean maps of the top channels, and zero the top-k channels "
        "(after the block's ReLU) against k random ones to see how the logit margin and the accuracy fall; then the "
        "same with the channels set to their mean map instead of zero.\n"
        "Layers: convN is the raw output of convolution N (for conv3, what 'the output of the third convolutional "
        "layer' means literally; signed); reluN the block output after pooling, batch norm and ReLU.\n"
        "Writes OUT/featuremaps_<layer>.png, OUT/featuremaps_<layer>_top.png, OUT/featuremaps_<layer>_ablation.png.\n"
        "On your own model (--model): --layer is any module whose output is a (C, H, W) map, by its "
        "named_modules() name (default: the third Conv2d in forward order), read by a forward hook; the maps of "
        "--image or of one image per class of --classes in --data; over --data the channels are ranked by "
        "Cohen's d, the --top channels' mean maps are drawn (_top.png) and the channels are ablated in that "
        "module's output by a hook: zeroed, then set to their mean map over the pair's images, top-k against k "
        "random ones and each of the --top channels alone (_ablation.png). Without --data the ranking, the _top "
        "figure and the ablation are skipped, and the result says so.",
        run=run, show=show,
    )
    add_user_model_options(parser, data_use="the class comparison, the channel ranking and the ablation")
    add_out_option(parser)
    add_data_options(parser)
    parser.add_argument("--digit", "--digits", dest="digits", type=int, nargs="+", default=FeatureMapsOptions.digits,
                        metavar="D", help="the two digits to compare, each 0-9")
    parser.add_argument("--classes", nargs=2, default=None, metavar=("A", "B"),
                        help="on your own model: the two classes of --data to compare, by folder name or index "
                        "(default: the first two)")
    parser.add_argument("--index", type=int, nargs=2, default=FeatureMapsOptions.index, metavar=("I", "J"),
                        help="test-set indices of the two examples, one per digit (default: the first correctly "
                        "classified image of each digit)")
    parser.add_argument("--layer", "--layers", dest="layer", default=None, metavar="NAME",
                        help="convN (raw convolution output, N = 1, 2, 3 for this CNN) or reluN (block output); "
                        f"default {FeatureMapsOptions.layer} for nnscope's checkpoint; on your own model any "
                        "module name (default: the third Conv2d in forward order)")
    parser.add_argument("--top", type=int, default=FeatureMapsOptions.top, metavar="N",
                        help="how many top-ranked channels to draw (at most the layer's channels); on your own "
                        "model also how many are ablated one at a time")
    parser.add_argument("--draws", type=int, default=FeatureMapsOptions.draws, metavar="N",
                        help="random channel sets per k in the ablation")
    parser.add_argument("--seed", type=int, default=FeatureMapsOptions.seed, help="seed of the random channel sets")
    parser.add_argument("--images", dest="limit", type=int, default=FeatureMapsOptions.limit, metavar="N",
                        help="rank and ablate over the first N test images (default: the whole test set)")


def run(args) -> dict:
    user = wants_user_model(args)
    options = options_from_args(FeatureMapsOptions, args)
    if args.layer is None:  # the default depends on the model: conv3 here, the third Conv2d on the generic path
        options = replace(options, layer=FeatureMapsOptions.layer)
    if user:
        if options.digits != FeatureMapsOptions.digits:
            log("note: --digit is ignored on your own model; pick the classes of --data with --classes A B")
        # the layer and the class pair are checked against the model and --data once loaded
        FeatureMapsOptions(top=options.top, draws=options.draws, seed=options.seed, limit=options.limit,
                           index=options.index).check()
        return run_on_user_model(args, options)
    if args.classes is not None:
        from nnscope.errors import NnscopeError

        raise NnscopeError("--classes: picks classes of --data on your own model; for nnscope's checkpoint use --digit")
    options.check()
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.featuremaps import check_layer, layer_channels, run_featuremaps

    model = load_model(Path(args.model))
    channels = layer_channels(model, check_layer(model, options.layer))
    if options.top > channels:
        log(f"note: --top {options.top} is more than the {channels} channels of {options.layer}; drawing all {channels}")
    digits = load_digits(args.dataset, args.data_dir, log=log)
    note_other_dataset(model, digits)
    log("ranking channels and ablating them over the test images of both digits")
    return {"out": str(args.out), **run_featuremaps(model, digits, options, out=args.out)}


def run_on_user_model(args, options: FeatureMapsOptions) -> dict:
    """The generic path: maps of any module via a hook; ranking and zero ablation over --data, else skipped."""
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.cli.model_options import model_options
    from nnscope.errors import NnscopeError
    from nnscope.vision.user_featuremaps import NO_DATA, run_user_featuremaps
    from nnscope.vision.user_model import load_model_image_and_data

    log_unused_mnist_options(args)
    loaded, image, data = load_model_image_and_data(model_options(args), args.data)
    if image is None and data is None:
        raise NnscopeError("--image: on your own model give --image PATH or --data DIR for the feature maps")
    result = run_user_featuremaps(loaded, data, image, args.layer, args.classes, options, out=args.out)
    if data is None:
        log(NO_DATA)  # after the work: a bad --layer stays the only line on stderr
    return {"out": str(args.out), **result}


def show_ranking_and_ablations(result: dict, console, name) -> None:
    """The top ten channels with their single-channel ablations, then one top-k table per fill; `name(class)`
    spells a class as the tables show it."""
    base = result["ablation"]["baseline"]
    table = Table("rank", "channel", "Cohen's d", "higher for", "where", "margin if zeroed", "accuracy if zeroed",
                  title=f"{result['layer']} channels ranked by |d| (baseline margin {base['margin']:.2f}, "
                  f"accuracy {base['accuracy']:.2%})")
    for rank, row in enumerate(result["channel_ranking"][:10], start=1):
        table.add_row(str(rank), str(row["channel"]), f"{row['effect_size']:+.2f}", name(row["higher_for"]), row["where"],
                      f"{row['ablated_margin']:.2f}" if "ablated_margin" in row else "",
                      f"{row['ablated_accuracy']:.2%}" if "ablated_accuracy" in row else "")
    print_table(console, table)
    for key in ("ablation", "mean_ablation"):
        study = result[key]
        how = {"zero": "zeroed", "mean": "set to their mean map"}[study["fill"]]
        table = Table("k", "top-k channels", "margin: top-k", "margin: k random", "accuracy: top-k", "accuracy: k random",
                      title=f"ablation: top-k channels {how}, against k random ones")
        for row in study["by_k"]:
            table.add_row(str(row["k"]), " ".join(map(str, row["top_channels"])), f"{row['top']['margin']:.2f}",
                          f"{row['random_margin']:.2f} ± {row['random_margin_std']:.2f}", f"{row['top']['accuracy']:.2%}",
                          f"{row['random_accuracy']:.2%}")
        print_table(console, table)


def show(result: dict, console) -> None:
    if "model" in result:  # the generic path: the tables when there is a ranking (the finding names the examples)
        if "channel_ranking" in result:
            show_ranking_and_ablations(result, console, lambda k: result["class_names"][k])
    else:
        for example in result["examples"]:
            console.print(f"'{example['digit']}': test image {example['index']}, predicted {example['prediction']} "
                          f"(p = {example['probabilities'][example['prediction']]:.4f})", highlight=False)
        show_ranking_and_ablations(result, console, lambda digit: f"'{digit}'")
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)
