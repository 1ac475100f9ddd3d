"""`nnscope featuremaps`: feature maps of a '0' and an '8', and the channels that tell them apart."""

from rich.table import Table

from nnscope.cli.common import add_checkpoint_option, add_command, add_data_options, add_out_option, log
from nnscope.data import load_digits
from nnscope.errors import NnscopeError
from nnscope.model import load_model
from nnscope.report.figures_problem1 import draw_ablation, draw_feature_maps, draw_top_channels
from nnscope.vision.featuremaps import DEFAULT_LAYER, DEFAULT_PAIR, RANDOM_DRAWS, check_layer, check_pair, featuremap_analysis


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "featuremaps",
        description="Show every channel of --layer for a correctly classified example of each digit, on one colour "
        "scale, and their difference. Then, over all test images of the two digits, rank the channels by Cohen's d "
        "of their spatially averaged activation, draw the mean maps of the top channels, and zero the top-k channels "
        "(after the block's ReLU) against k random ones to see how the logit margin and the accuracy fall.\n"
        "Layers: conv1..conv3 are the raw convolution outputs (what 'the output of the third convolutional layer' "
        "means literally; signed); relu1..relu3 the block outputs after pooling, batch norm and ReLU.\n"
        "Writes OUT/featuremaps_<layer>.png, OUT/featuremaps_<layer>_top.png, OUT/featuremaps_<layer>_ablation.png.",
        run=run, show=show,
    )
    add_checkpoint_option(parser)
    add_out_option(parser)
    add_data_options(parser)
    parser.add_argument("--digits", type=int, nargs="+", default=list(DEFAULT_PAIR), metavar="D",
                        help="the two digits to compare")
    parser.add_argument("--index", type=int, nargs=2, default=(None, None), metavar=("I", "J"),
                        help="test-set indices of the two examples; None: the first correctly classified ones")
    parser.add_argument("--layer", default=DEFAULT_LAYER, help="conv1, conv2, conv3 (raw) or relu1, relu2, relu3")
    parser.add_argument("--top", type=int, default=6, help="how many top-ranked channels to draw")
    parser.add_argument("--draws", type=int, default=RANDOM_DRAWS, help="random channel sets per k in the ablation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random channel sets")


def run(args) -> dict:
    check_pair(args.digits)
    for option, value in (("--top", args.top), ("--draws", args.draws)):
        if value < 1:
            raise NnscopeError(f"{option}: {value}; expected a whole number >= 1")
    model = load_model(args.checkpoint)
    check_layer(model, args.layer)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    log("ranking channels and ablating them over the test images of both digits")
    result = featuremap_analysis(model, digits, args.digits, args.layer, args.index, seed=args.seed, draws=args.draws)
    prefix = args.out / f"featuremaps_{args.layer}"
    figures = [draw_feature_maps(result, f"{prefix}.png"), draw_top_channels(result, f"{prefix}_top.png", args.top),
               draw_ablation(result, f"{prefix}_ablation.png")]
    result["figures"] = [str(f) for f in figures]
    return result


def show(result: dict, console) -> None:
    a, b = result["pair"]
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
    console.print("figures: " + ", ".join(result["figures"]), highlight=False)
