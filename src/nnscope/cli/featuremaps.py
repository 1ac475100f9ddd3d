"""`nnscope featuremaps`: feature maps of two classes' examples, and the channels that tell them apart."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_model_and_data_options, add_out_option, log, model_data_and_image, \
    options_from_args
from nnscope.cli.tables import print_table
from nnscope.options.featuremaps import FeatureMapsOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "featuremaps",
        description="Show the channels of --layer (any module whose output is a (C, H, W) map, by its "
        "named_modules() name, read by a forward hook) for a correctly classified image of each of two classes "
        "(or for --image), on one colour scale, and their difference. Then, over the two classes' images of the "
        "data, rank the channels by Cohen's d of their spatially averaged activation, draw the mean maps of the "
        "top channels, and ablate the top-k channels against k random ones (zeroed, then set to their mean map, "
        "by a forward hook; each of the top channels alone too) to see how the logit margin and the accuracy "
        "fall. Without data the ranking and the ablation are skipped, and the result says so.\n"
        "nnscope's CNN: convN is the raw output of convolution N (for conv3, 'the output of the third "
        "convolutional layer' literally; signed), reluN the block output after pooling, batch norm and ReLU; a "
        "channel of either is ablated in reluN, so the rest of the network sees it silent.\n"
        "Writes OUT/featuremaps_<layer>.png, OUT/featuremaps_<layer>_top.png, OUT/featuremaps_<layer>_ablation.png.",
        run=run, show=show,
    )
    add_model_and_data_options(parser, data_use="the class comparison, the channel ranking and the ablation")
    add_out_option(parser)
    parser.add_argument("--classes", "--digit", "--digits", dest="classes", nargs=2, default=None, metavar=("A", "B"),
                        help="the two classes to compare, by name or index (default: 0 8 on MNIST, else the data's "
                        "first two classes)")
    parser.add_argument("--index", type=int, nargs=2, default=FeatureMapsOptions.index, metavar=("I", "J"),
                        help="indices in the data of the two examples, one per class (default: the first correctly "
                        "classified image of each class)")
    parser.add_argument("--layer", "--layers", dest="layer", default=None, metavar="NAME",
                        help="the module whose output is drawn and ranked (default: the third Conv2d in forward "
                        "order: conv3 for nnscope's CNN, whose layers are convN and reluN, N = 1, 2, 3)")
    parser.add_argument("--top", type=int, default=FeatureMapsOptions.top, metavar="N",
                        help="how many top-ranked channels to draw (at most the layer's channels)")
    parser.add_argument("--draws", type=int, default=FeatureMapsOptions.draws, metavar="N",
                        help="random channel sets per k in the ablation")
    parser.add_argument("--seed", type=int, default=FeatureMapsOptions.seed, help="seed of the random channel sets")
    parser.add_argument("--images", dest="limit", type=int, default=FeatureMapsOptions.limit, metavar="N",
                        help="rank and ablate over the first N images of the data (default: all of them)")


def run(args) -> dict:
    options = options_from_args(FeatureMapsOptions, args)
    options.check()
    if args.image is not None and args.index is not None:
        log("note: --index is ignored with --image (it picks images of the data; the maps are of --image)")
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.analyses import run_featuremaps

    model, data, image = model_data_and_image(args)
    result = run_featuremaps(model, data, options, out=args.out, image=image)
    channels = result.examples[0]["feature_maps"].shape[0]
    if options.top > channels:
        log(f"note: --top {options.top} is more than the {channels} channels of {result.layer}; drawing all {channels}")
    if result.skipped:
        log(result.skipped)  # after the work: a bad --layer stays the only line on stderr
    return {"out": str(args.out), **result.to_json()}


def show(result: dict, console) -> None:
    names = result["class_names"]
    for example in result["examples"]:
        p = example["probabilities"]
        console.print(f"{example['source']}: predicted '{names[example['prediction']]}' "
                      f"(p = {p[example['prediction']]:.4f})", highlight=False)
    if "channel_ranking" in result:
        show_ranking_and_ablations(result, console, lambda k: f"'{names[k]}'")
    for line in result["finding"]:
        console.print(line, highlight=False)
    console.print("figures: " + ", ".join(str(Path(result["out"]) / f["file"]) for f in result["figures"]), highlight=False)


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
