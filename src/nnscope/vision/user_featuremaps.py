"""Problem 1.2 on the user's own model: the feature maps of any module's output, via a forward hook.

The maps are those of `--image` or of one image per class of `--classes` in `--data`. Over `--data`,
the channels are ranked by Cohen's d of their spatially averaged activation between the two classes,
and ablated in the hooked module's output (a forward hook that returns the output with those channels
set to 0, or to their mean map over the pair's images), top-k against k random ones, and each of the
`--top` channels alone. Without `--data` both are skipped.
"""

from pathlib import Path

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.findings.user_featuremaps import describe_user_featuremaps
from nnscope.labelled_data import pick_classes
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.report.records import figure
from nnscope.report.figures_featuremaps import draw_ablation, draw_top_channels
from nnscope.vision.featuremaps import (ABLATION_FILLS, ablation_by_k, add_single_channel_scores, mean_vs_zero_margin,
                                        rank_channels, scores)
from nnscope.vision.figures_user import draw_user_feature_maps
from nnscope.vision.user_model import BATCH, hooked, layer_outputs, pick_from_data

NO_DATA = "no --data given: the channel ranking and the ablation over a labelled data set were skipped"
HOOKED = "in the output of {layer} by a forward hook (the rest of the network runs unchanged on the edited output)"
ABLATION_METHODS = {"zero": "zeroed " + HOOKED,
                    "mean": "set to their mean map over the pair's images (both classes) " + HOOKED}


def default_layer(loaded) -> str:
    """The third Conv2d in forward order (the last one when there are fewer)."""
    if not loaded.conv_layers:
        raise NnscopeError(f"--layer: {loaded.source} has no Conv2d; name a module whose output is a (C, H, W) map")
    return loaded.conv_layers[min(2, len(loaded.conv_layers) - 1)]


@torch.no_grad()
def ablated_logits(loaded, layer: str, images: np.ndarray, channels, fill: np.ndarray | None = None) -> torch.Tensor:
    """Logits (N, K) with `channels` of `layer`'s output set to zero, or to their map in `fill` (C, H, W)."""
    channels = list(channels)
    values = None if fill is None else torch.as_tensor(fill[channels]).to(loaded.device)  # (len(channels), H, W)

    def ablate(output):
        output = output.clone()
        output[:, channels] = 0 if values is None else values.to(output.dtype)
        return output

    with hooked(loaded.layer(layer), edit=ablate):
        return torch.cat([loaded.module(torch.as_tensor(images[i:i + BATCH]).to(loaded.device)).cpu()
                          for i in range(0, len(images), BATCH)])


def ablation(loaded, layer: str, images: np.ndarray, labels: np.ndarray, pair, order, options: FeatureMapsOptions,
             baseline: torch.Tensor, fill: str = "zero", mean_map: np.ndarray | None = None) -> dict:
    """Margin and accuracy on the pair's images with the top-k ranked channels ablated (zeroed, or with fill
    'mean' set to `mean_map` (C, H, W)), against k random ones; and each of the --top channels alone."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    values = mean_map if fill == "mean" else None
    ablate = lambda channels: scores(ablated_logits(loaded, layer, images, channels, values), labels, pair)  # noqa: E731
    return {"fill": fill, "method": ABLATION_METHODS[fill].format(layer=layer), "baseline": scores(baseline, labels, pair),
            "alone": {int(c): ablate([c]) for c in order[:options.top]},
            "by_k": ablation_by_k(ablate, order, draws=options.draws, seed=options.seed), "draws": options.draws,
            "seed": options.seed, "images": len(labels)}


def run_user_featuremaps(loaded, data=None, image: np.ndarray | None = None, layer: str | None = None,
                         classes=None, options: FeatureMapsOptions = FeatureMapsOptions(),
                         out: str | Path | None = None) -> dict:
    """The maps of `layer` (default: the third Conv2d) for `image` or one image per class of the pair; with
    `data` the channel ranking and the zero and mean ablations; with `out` the figures."""
    layer = layer or default_layer(loaded)
    loaded.layer(layer, "--layer")  # an unknown name: close matches, before any work
    names = loaded.class_names
    result = {"model": loaded.source, "layer": layer, "class_names": list(names), "seed": options.seed,
              "limit": options.limit}
    pair = None
    if data is not None:
        pair = pick_classes(data.class_names, classes or data.class_names[:2])
        if len(pair) != 2 or pair[0] == pair[1]:
            raise NnscopeError(f"--classes: {' '.join(map(str, classes or []))}; expected two different classes")
        result["pair"] = pair
    examples = []
    if image is not None:
        examples.append({"source": "--image", "index": None, "label": None, "image": image})
    else:
        indices = options.index or (None, None)
        for label, index in zip(pair, indices):
            i = pick_from_data(loaded, data, label, index, "--classes")
            examples.append({"source": f"image {i} of {data.source}", "index": i, "label": label,
                             "image": data.float_images([i])[0]})
    for example in examples:
        maps, logits = layer_outputs(loaded, layer, example["image"][None])
        p = torch.softmax(logits, 1)[0].numpy()
        example.update(feature_maps=maps[0], prediction=int(p.argmax()), probabilities=p)
    result["examples"] = examples
    if len(examples) == 2:
        result["difference"] = examples[0]["feature_maps"] - examples[1]["feature_maps"]
    if data is None:
        result["skipped"] = NO_DATA
    else:
        labels = data.labels[:options.limit]
        chosen = np.flatnonzero(np.isin(labels, pair))
        images, chosen_labels = data.float_images(chosen), labels[chosen]
        maps, logits = layer_outputs(loaded, layer, images)
        by_class = [maps[chosen_labels == c] for c in pair]
        if min(len(m) for m in by_class) < 2:
            raise NnscopeError(f"--classes: fewer than 2 images of {names[pair[0]]!r} or {names[pair[1]]!r} in "
                               f"{data.source}; cannot compare")
        ranked = rank_channels(by_class, pair)
        ablations = {fill: ablation(loaded, layer, images, chosen_labels, pair, ranked["order"], options, logits, fill,
                                    maps.mean(0)) for fill in ABLATION_FILLS}  # the mean over both classes' images
        add_single_channel_scores(ranked["ranking"], ablations)
        result.update(counts=[len(m) for m in by_class], mean_maps=ranked["mean_maps"],
                      channel_ranking=ranked["ranking"], ablation=ablations["zero"], mean_ablation=ablations["mean"],
                      mean_vs_zero_margin=mean_vs_zero_margin(ablations))
    result["finding"] = describe_user_featuremaps(result)
    result["figures"] = [] if out is None else user_featuremap_figures(result, Path(out), options.top)
    return result


def user_featuremap_figures(result: dict, out: Path, top: int) -> list[dict]:
    """OUT/featuremaps_<layer>.png and, with the ranking, OUT/featuremaps_<layer>_top.png and _ablation.png."""
    layer = result["layer"]
    prefix = out / f"featuremaps_{layer.replace('/', '_')}"
    records = [figure(out, draw_user_feature_maps(result, f"{prefix}.png", top),
                      f"The channels of {layer}'s output for " + " and ".join(e["source"] for e in result["examples"])
                      + (", and their difference" if "difference" in result else "") + ", on one colour scale.",
                      f"{layer} feature maps.")]
    if "ablation" in result:
        a, b = (result["class_names"][k] for k in result["pair"])
        top = min(top, len(result["channel_ranking"]))
        records += [
            figure(out, draw_top_channels(result, f"{prefix}_top.png", top),
                   f"Mean maps over the {a!r} and the {b!r} images of --data of the {top} {layer} channels with the "
                   "largest effect size, and their difference.", "The channels that separate the two classes most."),
            figure(out, draw_ablation(result, f"{prefix}_ablation.png"),
                   f"Margin and accuracy with the top-k ranked channels {result['ablation']['method']} (top row) or "
                   "set there to their mean map (bottom row), against k random channels.",
                   "Ablation: ranked channels against random ones, zeroed and set to their mean map.")]
    return records
