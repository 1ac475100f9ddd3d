"""Feature maps of two digits, and which channels tell them apart over the whole test set.

Layers: `conv1`..`conv3` are the raw outputs of the convolutions (signed, full size before
pooling: 28, 14 and 7 pixels), i.e. literally "the output of the third convolutional layer";
`relu1`..`relu3` are the block outputs after pooling, batch norm and ReLU (non-negative), the
maps the next layer reads. Ablating a channel always zeroes it in the block output (after the
ReLU), so the rest of the network sees that channel as silent whichever layer ranked it.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from nnscope.data import Digits, as_float_images
from nnscope.errors import NnscopeError
from nnscope.findings.featuremaps import describe_featuremaps
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.progress import Progress
from nnscope.report.records import figure
from nnscope.report.figures_featuremaps import draw_ablation, draw_feature_maps, draw_top_channels
from nnscope.vision.examples import pick_example, predict

DEFAULTS = FeatureMapsOptions()
ABLATION_SIZES = (1, 2, 4, 8)  # k: how many channels are zeroed together
ABLATION_FILLS = ("zero", "mean")  # what an ablated channel's block output is replaced by
THIRDS = ("top", "middle", "bottom"), ("left", "centre", "right")


def feature_layers(model: torch.nn.Module) -> list[str]:
    """The layer names `--layer` accepts: conv1, relu1, conv2, relu2, ..."""
    return [f"{kind}{i}" for i in range(1, len(model.conv_layer_names) + 1) for kind in ("conv", "relu")]


def check_layer(model: torch.nn.Module, layer: str) -> str:
    """`layer` if the model has it, else a clear error listing the names."""
    if layer not in feature_layers(model):
        raise NnscopeError(f"--layer: unknown layer {layer!r}; expected one of {', '.join(feature_layers(model))}")
    return layer


def check_pair(pair) -> tuple[int, int]:
    """Two different digits, else a clear error naming --digit."""
    replace(DEFAULTS, digits=tuple(pair)).check()
    return int(pair[0]), int(pair[1])


@torch.no_grad()
def layer_activations(model: torch.nn.Module, images: np.ndarray, layer: str, batch: int = 1000) -> np.ndarray:
    """Activations of `layer` for uint8 images (N, 28, 28): float32 (N, C, H, W)."""
    check_layer(model, layer)
    parts = [model.forward_with_activations(as_float_images(images[i : i + batch]))[1][layer].numpy()
             for i in range(0, len(images), batch)]
    return np.concatenate(parts)


def feature_map_comparison(model: torch.nn.Module, digits: Digits, pair=DEFAULTS.digits, layer: str = DEFAULTS.layer,
                           indices=(None, None)) -> dict:
    """Feature maps of `layer` for a correctly classified example of each digit of `pair`, and their difference."""
    pair, layer = check_pair(pair), check_layer(model, layer)
    examples = []
    for digit, index in zip(pair, indices):
        index = pick_example(model, digits, digit, index)
        image = digits.test_images[index : index + 1]
        probabilities = predict(model, as_float_images(image))[0].numpy()
        examples.append({"digit": digit, "index": index, "prediction": int(probabilities.argmax()),
                         "probabilities": probabilities, "image": image[0] / 255.0,
                         "feature_maps": layer_activations(model, image, layer)[0]})  # (C, H, W)
    return {"layer": layer, "examples": examples,
            "difference": examples[0]["feature_maps"] - examples[1]["feature_maps"]}


def cohens_d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cohen's d per column of a (Na, C) and b (Nb, C): (mean a - mean b) / pooled standard deviation."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * a.var(0, ddof=1) + (nb - 1) * b.var(0, ddof=1)) / (na + nb - 2))
    difference = a.mean(0) - b.mean(0)
    # a channel constant over both digits (e.g. dead after the ReLU) separates nothing: d = 0
    return np.divide(difference, pooled, out=np.zeros_like(difference), where=pooled > 1e-12)


def where_largest(difference: np.ndarray) -> str:
    """'top left', 'middle centre', ... : the third of the map (H, W) where |difference| is largest."""
    row, col = np.unravel_index(np.abs(difference).argmax(), difference.shape)
    height, width = difference.shape
    return f"{THIRDS[0][min(3 * row // height, 2)]} {THIRDS[1][min(3 * col // width, 2)]}"


def channel_ranking(model: torch.nn.Module, digits: Digits, pair=DEFAULTS.digits, layer: str = DEFAULTS.layer,
                    limit: int | None = None) -> dict:
    """Per channel over all test images of the two digits: mean maps, pooled means and Cohen's d, ranked by |d|."""
    pair, layer = check_pair(pair), check_layer(model, layer)
    labels = digits.test_labels[:limit]
    maps = [layer_activations(model, digits.test_images[:limit][labels == d], layer) for d in pair]  # (N_d, C, H, W)
    if min(len(m) for m in maps) < 2:
        raise NnscopeError(f"--digit: fewer than 2 test images of '{pair[0]}' or '{pair[1]}'; cannot compare")
    ranked = rank_channels(maps, pair)
    return {"layer": layer, "pair": list(pair), "counts": [len(m) for m in maps], **ranked}


def rank_channels(maps: list[np.ndarray], pair) -> dict:
    """Cohen's d per channel between two classes' maps (N_c, C, H, W), ranked by |d|, with each class's mean maps."""
    pooled = [m.mean(axis=(2, 3)) for m in maps]  # spatial mean per image and channel: (N_c, C)
    d = cohens_d(*pooled)
    mean_maps = [m.mean(0) for m in maps]  # (C, H, W) per class
    order = np.argsort(-np.abs(d), kind="stable")
    ranking = [{"channel": int(c), "effect_size": float(d[c]), "higher_for": pair[0] if d[c] > 0 else pair[1],
                "mean": [float(p[:, c].mean()) for p in pooled], "where": where_largest(mean_maps[0][c] - mean_maps[1][c])}
               for c in order]
    return {"effect_sizes": d, "order": order, "mean_maps": mean_maps, "ranking": ranking}


def block_of(layer: str) -> int:
    """The block number of a layer name: 'conv3' and 'relu3' -> 3."""
    return int(layer[4:])


def layer_channels(model: torch.nn.Module, layer: str) -> int:
    """How many channels `layer` (convN or reluN) has."""
    return getattr(model, f"conv{block_of(layer)}").out_channels


@torch.no_grad()
def batch_norm_outputs(model: torch.nn.Module, images: np.ndarray, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits and the output of batch norm `block` (N, C, H, W) for uint8 images, in one forward pass."""
    captured = []
    hook = getattr(model, f"bn{block}").register_forward_hook(lambda module, inputs, out: captured.append(out))
    try:
        logits = torch.cat([model(as_float_images(images[i : i + 1000])) for i in range(0, len(images), 1000)])
    finally:
        hook.remove()
    return logits, torch.cat(captured)


@torch.no_grad()
def logits_from_block(model: torch.nn.Module, block: int, normalised: torch.Tensor) -> torch.Tensor:
    """The logits computed from the batch-norm output of `block` onward (mirrors CNN.forward_with_activations)."""
    x = torch.relu(normalised)
    for i in range(block + 1, len(model.conv_layer_names) + 1):
        x = getattr(model, f"conv{i}")(x)
        if model.config.pool_after[i - 1]:
            x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.relu(getattr(model, f"bn{i}")(x))
    return model.fc(x.flatten(1))


def scores(logits: torch.Tensor, labels: torch.Tensor, pair) -> dict:
    """Mean own-vs-other logit margin and 10-class accuracy of logits (N, 10) on images of the two digits."""
    other = torch.where(labels == pair[0], pair[1], pair[0])
    margin = (logits.gather(1, labels[:, None]) - logits.gather(1, other[:, None]))[:, 0]  # (N,)
    correct = (logits.argmax(1) == labels).float()
    return {"margin": float(margin.mean()), "accuracy": float(correct.mean()),
            # per digit of the pair: zeroing a channel that fires for one digit can help the other
            "margin_by_digit": [float(margin[labels == d].mean()) for d in pair],
            "accuracy_by_digit": [float(correct[labels == d].mean()) for d in pair]}


def ablated_scores(model: torch.nn.Module, normalised: torch.Tensor, labels: torch.Tensor, pair, block: int,
                   channels=(), fill: torch.Tensor | None = None) -> dict:
    """`scores` with `channels` of block `block` replaced after its ReLU: by zero, or by `fill` (C, H, W) >= 0."""
    mask = torch.ones(normalised.shape[1], 1, 1)
    mask[list(channels)] = 0.0
    # the batch-norm output is replaced, so ReLU(0) = 0 and ReLU(fill) = fill give the wanted block output
    replaced = normalised * mask if fill is None else normalised * mask + fill * (1 - mask)
    return scores(logits_from_block(model, block, replaced), labels, pair)


def ablation_study(model: torch.nn.Module, digits: Digits, ranking: dict, sizes=ABLATION_SIZES,
                   draws: int = DEFAULTS.draws, seed: int = 0, single: int | None = None, limit: int | None = None,
                   fill: str = "zero") -> dict:
    """Margin and accuracy on the pair's test images with the top-k ranked channels ablated, versus k random ones.

    fill 'zero' sets the channels to 0 after the ReLU (silences them, which also shifts what the next layer sees);
    'mean' sets them to their mean map over both digits (removes only what differs between images)."""
    if fill not in ABLATION_FILLS:
        raise NnscopeError(f"ablation fill: unknown fill {fill!r}; expected one of {', '.join(ABLATION_FILLS)}")
    pair, block = ranking["pair"], block_of(ranking["layer"])
    labels = digits.test_labels[:limit]
    chosen = np.isin(labels, pair)
    images, labels = digits.test_images[:limit][chosen], labels[chosen].astype(np.int64)
    order, channels = ranking["order"], len(ranking["order"])
    logits, normalised = batch_norm_outputs(model, images, block)
    labels = torch.as_tensor(labels)
    # the replayed tail must reproduce the model, or every ablation figure would be wrong
    assert torch.allclose(logits_from_block(model, block, normalised), logits, atol=1e-4)
    values = None if fill == "zero" else torch.relu(normalised).mean(0)  # (C, H, W) mean block output
    ablate = lambda chosen: ablated_scores(model, normalised, labels, pair, block, chosen, values)  # noqa: E731
    alone = {int(c): ablate([c]) for c in order[:single]}  # single None: every channel
    return {"fill": fill, "baseline": scores(logits, labels, pair), "alone": alone,
            "by_k": ablation_by_k(ablate, order, sizes, draws, seed), "draws": draws, "seed": seed, "images": len(labels)}


def ablation_by_k(ablate, order, sizes=ABLATION_SIZES, draws: int = DEFAULTS.draws, seed: int = 0) -> list[dict]:
    """One row per k: `ablate(channels) -> scores` of the top-k ranked channels, and the mean (and spread) of
    `draws` sets of k random channels; both paths' ablation tables."""
    channels = len(order)
    generator = np.random.default_rng(seed)
    rows = []
    for k in [k for k in sizes if k <= channels]:
        random = [ablate(generator.choice(channels, k, replace=False).tolist()) for _ in range(draws)]
        rows.append({"k": k, "top_channels": order[:k].tolist(), "top": ablate(order[:k].tolist()),
                     "random_margin": float(np.mean([r["margin"] for r in random])),
                     "random_margin_std": float(np.std([r["margin"] for r in random])),
                     "random_accuracy": float(np.mean([r["accuracy"] for r in random]))})
    return rows


def add_single_channel_scores(ranking: list[dict], ablations: dict) -> None:
    """Each ranked channel ablated alone (where it was): its margin and accuracy zeroed and mean-filled, in its row."""
    for row in ranking:
        for fill, prefix in (("zero", "ablated"), ("mean", "mean_ablated")):
            alone = ablations[fill]["alone"].get(row["channel"])
            if alone:
                row[f"{prefix}_margin"], row[f"{prefix}_accuracy"] = alone["margin"], alone["accuracy"]


def mean_vs_zero_margin(ablations: dict) -> float:
    """The largest gap between the mean margins of the zero and the mean fill, over the top-k rows."""
    return max((abs(m["top"]["margin"] - z["top"]["margin"]) for m, z in
                zip(ablations["mean"]["by_k"], ablations["zero"]["by_k"])), default=0.0)


def run_featuremaps(model: torch.nn.Module, data: Digits, options: FeatureMapsOptions = DEFAULTS,
                    out: str | Path | None = None, progress: Progress | None = None) -> dict:
    """Problem 1.2: the two examples' maps, the channel ranking over the test set, the zero and mean ablations
    and, with `out`, the figures OUT/featuremaps_<layer>.png, _top.png and _ablation.png."""
    options.check()
    layer, steps = check_layer(model, options.layer), 3 + (out is not None)
    report = progress or (lambda done, total, info: None)
    comparison = feature_map_comparison(model, data, options.digits, layer, options.index or (None, None))
    report(1, steps, "feature maps of the two examples")
    ranking = channel_ranking(model, data, options.digits, layer, options.limit)
    report(2, steps, "channels ranked by Cohen's d")
    ablations = {fill: ablation_study(model, data, ranking, draws=options.draws, seed=options.seed,
                                      limit=options.limit, fill=fill) for fill in ABLATION_FILLS}
    report(3, steps, "zero and mean ablations")
    add_single_channel_scores(ranking["ranking"], ablations)
    result = {**comparison, "pair": list(ranking["pair"]), "counts": ranking["counts"], "mean_maps": ranking["mean_maps"],
              "channel_ranking": ranking["ranking"], "ablation": ablations["zero"], "mean_ablation": ablations["mean"],
              "seed": options.seed, "limit": options.limit,
              # its block output is the linear layer's input: a mean fill then adds one fixed vector to every logit
              "feeds_output_layer": block_of(layer) == len(model.conv_layer_names),
              "mean_vs_zero_margin": mean_vs_zero_margin(ablations)}
    result["finding"] = describe_featuremaps(result)
    result["figures"] = [] if out is None else featuremap_figures(result, Path(out), options.top)
    if out is not None:
        report(4, steps, "figures")
    return result


def featuremap_figures(result: dict, out: Path, top: int) -> list[dict]:
    """Draw the three figures of `run_featuremaps` into `out`; their records for the page."""
    (a, b), layer = result["pair"], result["layer"]
    prefix = out / f"featuremaps_{layer}"
    top = min(top, len(result["channel_ranking"]))
    how = ("set to their mean map (bottom row; it moves every image's logits by one fixed vector, as this layer feeds "
           "the linear output layer directly)" if result["feeds_output_layer"] else "set to their mean map (bottom row)")
    return [
        figure(out, draw_feature_maps(result, f"{prefix}.png"),
               f"Every {layer} channel for the '{a}' and the '{b}' side by side on one colour scale, and their difference.",
               f"{layer} feature maps of test images {result['examples'][0]['index']} and "
               f"{result['examples'][1]['index']}, and the difference '{a}' minus '{b}'."),
        figure(out, draw_top_channels(result, f"{prefix}_top.png", top),
               f"Mean maps over all test '{a}'s and '{b}'s of the {top} {layer} channels with the largest effect size.",
               "The channels that separate the two digits most, averaged over the test set."),
        figure(out, draw_ablation(result, f"{prefix}_ablation.png"),
               f"Logit margin and accuracy when the top-k ranked channels are zeroed (top row) or {how}, "
               "against k random channels.",
               "Ablation: the ranked channels against random ones, zeroed and set to their mean map."),
    ]
