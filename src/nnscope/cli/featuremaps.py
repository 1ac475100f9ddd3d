"""`nnscope featuremaps`: feature maps of a '0' and an '8', and the channels that tell them apart."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_checkpoint_option, add_command, add_data_options, add_out_option, log, options_from_args
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
        "Writes OUT/featuremaps_<layer>.png, OUT/featuremaps_<layer>_top.png, OUT/featuremaps_<layer>_ablation.png.",
        run=run, show=show,
    )
    add_checkpoint_option(parser)
    add_out_option(parser)
    add_data_options(parser)
    parser.add_argument("--digit", "--digits", dest="digits", type=int, nargs="+", default=FeatureMapsOptions.digits,
                        metavar="D", help="the two digits to compare, each 0-9")
    parser.add_argument("--index", type=int, nargs=2, default=FeatureMapsOptions.index, metavar=("I", "J"),
                        help="test-set indices of the two examples, one per digit (default: the first correctly "
                        "classified image of each digit)")
    parser.add_argument("--layer", "--layers", dest="layer", default=FeatureMapsOptions.layer, metavar="NAME",
                        help="convN (raw convolution output, N = 1, 2, 3 for this CNN) or reluN (block output)")
    parser.add_argument("--top", type=int, default=FeatureMapsOptions.top, metavar="N",
                        help="how many top-ranked channels to draw (at most the layer's channels)")
    parser.add_argument("--draws", type=int, default=FeatureMapsOptions.draws, metavar="N",
                        help="random channel sets per k in the ablation")
    parser.add_argument("--seed", type=int, default=FeatureMapsOptions.seed, help="seed of the random channel sets")
    parser.add_argument("--images", dest="limit", type=int, default=FeatureMapsOptions.limit, metavar="N",
                        help="rank and ablate over the first N test images (default: the whole test set)")


def run(args) -> dict:
    options = options_from_args(FeatureMapsOptions, args)
    options.check()
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.data import load_digits
    from nnscope.model import load_model
    from nnscope.vision.featuremaps import check_layer, layer_channels, run_featuremaps

    model = load_model(args.checkpoint)
    channels = layer_channels(model, check_layer(model, options.layer))
    if options.top > channels:
        log(f"note: --top {options.top} is more than the {channels} channels of {options.layer}; drawing all {channels}")
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    log("ranking channels and ablating them over the test images of both digits")
    return {"out": str(args.out), **run_featuremaps(model, digits, options, out=args.out)}


def show(result: dict, console) -> None:
    for example in result["examples"]:
        console.print(f"'{example['digit']}': test image {example['index']}, predicted {example['prediction']} "
                      f"(p = {example['probabilities'][example['prediction']]:.4f})", highlight=False)
    base = result["ablation"]["baseline"]
    table = Table("rank", "channel", "Cohen's d", "higher for", "where", "margin if zeroed", "accuracy if zeroed",
                  title=f"{result['layer']} channels ranked by |d| (baseline margin {base['margin']:.2f}, "
                  f"accuracy {base['accuracy']:.2%})")
    for rank, row in enumerate(result["channel_ranking"][:10], start=1):
        table.add_row(str(rank), str(row["channel"]), f"{row['effect_size']:+.2f}", f"'{row['higher_for']}'", row["where"],
                      f"{row['ablated_margin']:.2f}" if "ablated_margin" in row else "",
                      f"{row['ablated_accuracy']:.2%}" if "ablated_accuracy" in row else "")
    console.print(table)
    for key in ("ablation", "mean_ablation"):
        study = result[key]
        how = {"zero": "zeroed", "mean": "set to their mean map"}[study["fill"]]
        table = Table("k", "top-k channels", "margin: top-k", "margin: k random", "accuracy: top-k", "accuracy: k random",
                      title=f"ablation: top-k channels {how}, against k random ones")
        for row in study["by_k"]:
            table.add_row(str(row["k"]), " ".join(map(str, row["top_channels"])), f"{row['top']['margin']:.2f}",
                          f"{row['random_margin']:.2f} ± {row['random_margin_std']:.2f}", f"{row['top']['accuracy']:.2%}",
                          f"{row['random_accuracy']:.2%}")
        console.print(table)
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)
