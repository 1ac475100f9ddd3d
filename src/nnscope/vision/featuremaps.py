"""Feature maps of two classes' examples, and which channels tell the classes apart over the data.

The maps are the output of any module (`layer`, by its named_modules() name; default the third
Conv2d in forward order), read by a forward hook, for one correctly classified image of each class
of the pair (or for an image the caller gives). Over the pair's images of the data, the channels are
ranked by Cohen's d of their spatially averaged activation, and ablated by a forward hook that
replaces them in the output of the module where the network silences a channel (`ablated_at`):
zeroed, or set to their mean map over the pair's images; top-k against k random ones, and the
top-ranked channels one at a time. nnscope's CNN names its layers convN (the raw, signed
convolution output) and reluN (the block output after pooling, batch norm and ReLU); a channel of
either is ablated in reluN, so the rest of the network sees it silent.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.findings.featuremaps import describe_featuremaps
from nnscope.labelled_data import LabelledImages
from nnscope.models import LoadedModel
from nnscope.options.featuremaps import MNIST_CLASSES, FeatureMapsOptions
from nnscope.progress import Progress
from nnscope.results import Result
from nnscope.vision.examples import BATCH, class_index, hooked, layer_outputs, pick_image

ABLATION_SIZES = (1, 2, 4, 8)  # k: how many channels are ablated together
ABLATION_FILLS = ("zero", "mean")  # what an ablated channel's output is replaced by
THIRDS = ("top", "middle", "bottom"), ("left", "centre", "right")
HEAD_TYPES = {"Linear", "Flatten", "Identity", "Dropout"}  # modules that keep a fixed offset a fixed offset
HOOKED = "in the output of {layer} by a forward hook (the rest of the network runs unchanged on the edited output)"
ABLATION_METHODS = {"zero": "zeroed " + HOOKED,
                    "mean": "set to their mean map over the pair's images (both classes) " + HOOKED}
NO_DATA = "no --data given: the channel ranking and the ablation over a labelled data set were skipped"


@dataclass
class FeatureMapsResult(Result):
    """The examples' maps, and with data the channel ranking and the zero and mean ablations."""

    title = "feature maps"
    model: str  # what was loaded
    layer: str  # the module whose output is drawn and ranked
    ablated_at: str  # the module whose output the ablation edits
    class_names: list[str]
    examples: list[dict]  # per example: source, index, label, digit, image, prediction, probabilities, feature_maps
    seed: int
    limit: int | None
    top: int = FeatureMapsOptions.top  # channels drawn in the top-channels figure
    difference: np.ndarray | None = None  # first example's maps minus the second's (C, H, W)
    pair: list[int] | None = None  # the two classes compared (indices)
    counts: list[int] | None = None  # images of each class ranked and ablated
    mean_maps: list[np.ndarray] | None = None  # per class (C, H, W)
    channel_ranking: list[dict] | None = None
    ablation: dict | None = None  # channels zeroed
    mean_ablation: dict | None = None  # channels set to their mean map
    feeds_output_layer: bool | None = None  # the ablated module feeds the linear output layer directly
    mean_vs_zero_margin: float | None = None
    skipped: str | None = None  # why the ranking and the ablation are not there
    figures: list[dict] = field(default_factory=list)
    finding: list[str] = field(default_factory=list)

    def omitted_when_none(self) -> tuple[str, ...]:
        return ("difference", "pair", "counts", "mean_maps", "channel_ranking", "ablation", "mean_ablation",
                "feeds_output_layer", "mean_vs_zero_margin", "skipped")


def default_layer(model: LoadedModel) -> str:
    """The third Conv2d in forward order (the last one when there are fewer)."""
    if not model.conv_layers:
        raise NnscopeError(f"--layer: {model.source} has no Conv2d; name a module whose output is a (C, H, W) map")
    return model.conv_layers[min(2, len(model.conv_layers) - 1)]


def ablation_layer(model: LoadedModel, layer: str) -> str:
    """Where a channel of `layer` is silenced: where the network says (nnscope's CNN: the block output), else
    `layer` itself."""
    return getattr(model.network, "block_outputs", {}).get(layer, layer)


def feeds_output_layer(model: LoadedModel, layer: str) -> bool:
    """Whether only a linear output layer (and shape-only modules) runs after `layer`: a mean fill then moves
    every image's logits by one fixed vector."""
    order = {row["name"]: row.get("call_order") for row in model.layers}
    start = order.get(layer)
    if start is None:
        return False
    after = [row for row in model.layers if row["name"] and (row.get("call_order") or -1) > start]
    return bool(after) and all(row["type"] in HEAD_TYPES for row in after) and \
        sum(row["type"] == "Linear" for row in after) == 1


def pair_of(data: LabelledImages, wanted) -> list[int]:
    """The two classes compared: `wanted` (names or indices), by default MNIST's '0' and '8', else the first two."""
    if wanted is None:
        wanted = MNIST_CLASSES if data.name == "mnist" else data.class_names[:2]
    pair = [class_index(data, c, "--classes") for c in wanted]
    if pair[0] == pair[1]:
        raise NnscopeError(f"--classes: {' '.join(map(str, wanted))}; expected two different classes of the data")
    return pair


def cohens_d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cohen's d per column of a (Na, C) and b (Nb, C): (mean a - mean b) / pooled standard deviation."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * a.var(0, ddof=1) + (nb - 1) * b.var(0, ddof=1)) / (na + nb - 2))
    difference = a.mean(0) - b.mean(0)
    # a channel constant over both classes (e.g. dead after a ReLU) separates nothing: d = 0
    return np.divide(difference, pooled, out=np.zeros_like(difference), where=pooled > 1e-12)


def where_largest(difference: np.ndarray) -> str:
    """'top left', 'middle centre', ... : the third of the map (H, W) where |difference| is largest."""
    row, col = np.unravel_index(np.abs(difference).argmax(), difference.shape)
    height, width = difference.shape
    return f"{THIRDS[0][min(3 * row // height, 2)]} {THIRDS[1][min(3 * col // width, 2)]}"


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


def scores(logits: torch.Tensor, labels: torch.Tensor, pair) -> dict:
    """Mean own-vs-other logit margin and accuracy (argmax over every class) of logits (N, K) on the pair's images."""
    other = torch.where(labels == pair[0], pair[1], pair[0])
    margin = (logits.gather(1, labels[:, None]) - logits.gather(1, other[:, None]))[:, 0]  # (N,)
    correct = (logits.argmax(1) == labels).float()
    return {"margin": float(margin.mean()), "accuracy": float(correct.mean()),
            # per class of the pair: ablating a channel that fires for one class can help the other
            "margin_by_digit": [float(margin[labels == d].mean()) for d in pair],
            "accuracy_by_digit": [float(correct[labels == d].mean()) for d in pair]}


@torch.no_grad()
def ablated_logits(model: LoadedModel, layer: str, images: np.ndarray, channels,
                   fill: np.ndarray | None = None) -> torch.Tensor:
    """Logits (N, K) with `channels` of `layer`'s output set to zero, or to their map in `fill` (C, H, W)."""
    channels = list(channels)
    values = None if fill is None else torch.as_tensor(fill[channels]).to(model.device)  # (len(channels), H, W)

    def ablate(output):
        output = output.clone()
        output[:, channels] = 0 if values is None else values.to(output.dtype)
        return output

    with hooked(model.layer(layer), edit=ablate):
        return torch.cat([model.module(torch.as_tensor(images[i:i + BATCH]).to(model.device)).cpu()
                          for i in range(0, len(images), BATCH)])


def ablation_by_k(ablate, order, sizes=ABLATION_SIZES, draws: int = FeatureMapsOptions.draws, seed: int = 0) -> list[dict]:
    """One row per k: `ablate(channels) -> scores` of the top-k ranked channels, and the mean (and spread) of
    `draws` sets of k random channels."""
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


def ablation(model: LoadedModel, layer: str, images: np.ndarray, labels: np.ndarray, pair, order,
             options: FeatureMapsOptions, baseline: torch.Tensor, fill: str, mean_map: np.ndarray) -> dict:
    """Margin and accuracy on the pair's images with the top-k ranked channels of `layer`'s output ablated
    (zeroed, or with fill 'mean' set to `mean_map` (C, H, W)), against k random ones; and the top `options.single`
    channels alone."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    values = mean_map if fill == "mean" else None
    ablate = lambda channels: scores(ablated_logits(model, layer, images, channels, values), labels, pair)  # noqa: E731
    return {"fill": fill, "method": ABLATION_METHODS[fill].format(layer=layer), "baseline": scores(baseline, labels, pair),
            "alone": {int(c): ablate([c]) for c in order[:options.single]},
            "by_k": ablation_by_k(ablate, order, draws=options.draws, seed=options.seed), "draws": options.draws,
            "seed": options.seed, "images": len(labels)}


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


def example(model: LoadedModel, layer: str, image: np.ndarray, source: str, index, label) -> dict:
    """One image (C, H, W) with its prediction, probabilities and the maps of `layer` (C', H', W')."""
    maps, logits = layer_outputs(model, layer, image[None])
    p = torch.softmax(logits, 1)[0].numpy()
    return {"source": source, "index": index, "label": label, "digit": label, "prediction": int(p.argmax()),
            "probabilities": p, "image": image[0] if image.shape[0] == 1 else image, "feature_maps": maps[0]}


def measure_featuremaps(model: LoadedModel, data: LabelledImages | None, options: FeatureMapsOptions = FeatureMapsOptions(),
                        image: np.ndarray | None = None, progress: Progress | None = None) -> FeatureMapsResult:
    """Problem 1.2: the maps of `options.layer` for `image` or one image of each class of the pair; with `data`
    the channel ranking and the zero and mean ablations over the pair's images."""
    options.check()
    if data is None and image is None:
        raise NnscopeError("--data: the feature maps need an image: give --data PATH (a labelled data set) or "
                           "--image PATH")
    report = progress or (lambda done, total, info: None)
    layer = options.layer or default_layer(model)
    ablated_at = ablation_layer(model, layer)
    model.layer(layer, "--layer")  # an unknown name: close matches, before any work
    pair = None if data is None else pair_of(data, options.classes)
    if image is not None:
        examples = [example(model, layer, image, "--image", None, None)]
    else:
        examples = []
        for label, index in zip(pair, options.index or (None, None)):
            i = pick_image(model, data, label, index, "--classes")
            examples.append(example(model, layer, data.float_images([i])[0], f"image {i} of {data.source}", i, label))
    result = FeatureMapsResult(model=model.source, layer=layer, ablated_at=ablated_at,
                               class_names=list(model.class_names), examples=examples, seed=options.seed,
                               limit=options.limit, top=options.top, pair=pair)
    if len(examples) == 2:
        result.difference = examples[0]["feature_maps"] - examples[1]["feature_maps"]
    report(1, 3, "feature maps of the examples")
    if data is None:
        result.skipped = NO_DATA
    else:
        labels = data.labels[:options.limit]
        chosen = np.flatnonzero(np.isin(labels, pair))
        images, chosen_labels = data.float_images(chosen), labels[chosen]
        maps, logits = layer_outputs(model, layer, images)
        by_class = [maps[chosen_labels == c] for c in pair]
        if min(len(m) for m in by_class) < 2:
            names = data.class_names
            raise NnscopeError(f"--classes: fewer than 2 images of '{names[pair[0]]}' or '{names[pair[1]]}' in "
                               f"{data.source}; cannot compare")
        ranked = rank_channels(by_class, pair)
        report(2, 3, "channels ranked by Cohen's d")
        fill_maps = maps if ablated_at == layer else layer_outputs(model, ablated_at, images)[0]
        mean_map = fill_maps.mean(0)  # (C, H, W): the mean over both classes' images
        if fill_maps.shape[1] != maps.shape[1]:
            raise NnscopeError(f"--layer: {layer!r} has {maps.shape[1]} channels and {ablated_at!r}, where they are "
                               f"ablated, {fill_maps.shape[1]}")
        ablations = {fill: ablation(model, ablated_at, images, chosen_labels, pair, ranked["order"], options, logits,
                                    fill, mean_map) for fill in ABLATION_FILLS}
        report(3, 3, "zero and mean ablations")
        add_single_channel_scores(ranked["ranking"], ablations)
        result.counts = [len(m) for m in by_class]
        result.mean_maps = ranked["mean_maps"]
        result.channel_ranking = ranked["ranking"]
        result.ablation, result.mean_ablation = ablations["zero"], ablations["mean"]
        result.feeds_output_layer = feeds_output_layer(model, ablated_at)
        result.mean_vs_zero_margin = mean_vs_zero_margin(ablations)
    result.finding = describe_featuremaps(result.as_dict())
    return result
