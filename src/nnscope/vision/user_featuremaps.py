"""Problem 1.2 on the user's own model: the feature maps of any module's output, via a forward hook.

The maps are those of `--image` or of one image per class of `--classes` in `--data`. Over `--data`,
the channels are ranked by Cohen's d of their spatially averaged activation between the two classes,
and ablated by zeroing them in the hooked module's output (a forward hook that returns the output
with those channels set to 0), top-k against k random ones. Without `--data` both are skipped.
"""

from pathlib import Path

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.findings.user_featuremaps import describe_user_featuremaps
from nnscope.labelled_data import pick_classes
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.report.records import figure
from nnscope.vision.featuremaps import ABLATION_SIZES, cohens_d, scores, where_largest
from nnscope.vision.figures_user import draw_user_ablation, draw_user_feature_maps
from nnscope.vision.user_model import BATCH, hooked, layer_outputs, pick_from_data

NO_DATA = "no --data given: the channel ranking and the ablation over a labelled data set were skipped"
ABLATION_METHOD = ("zeroed in the output of {layer} by a forward hook (the rest of the network runs unchanged "
                   "on the edited output)")


def default_layer(loaded) -> str:
    """The third Conv2d in forward order (the last one when there are fewer)."""
    if not loaded.conv_layers:
        raise NnscopeError(f"--layer: {loaded.source} has no Conv2d; name a module whose output is a (C, H, W) map")
    return loaded.conv_layers[min(2, len(loaded.conv_layers) - 1)]


@torch.no_grad()
def zeroed_logits(loaded, layer: str, images: np.ndarray, channels) -> torch.Tensor:
    """Logits (N, K) with `channels` of `layer`'s output set to zero."""
    channels = list(channels)

    def zero(output):
        output = output.clone()
        output[:, channels] = 0
        return output

    with hooked(loaded.layer(layer), edit=zero):
        return torch.cat([loaded.module(torch.as_tensor(images[i:i + BATCH]).to(loaded.device)).cpu()
                          for i in range(0, len(images), BATCH)])


def rank_channels(maps: list[np.ndarray], pair) -> dict:
    """Cohen's d per channel between the two classes' maps (N_c, C, H, W), ranked by |d|, with the mean maps."""
    pooled = [m.mean(axis=(2, 3)) for m in maps]  # (N_c, C)
    d = cohens_d(*pooled)
    mean_maps = [m.mean(0) for m in maps]
    order = np.argsort(-np.abs(d), kind="stable")
    ranking = [{"channel": int(c), "effect_size": float(d[c]), "higher_for": pair[0] if d[c] > 0 else pair[1],
                "mean": [float(p[:, c].mean()) for p in pooled], "where": where_largest(mean_maps[0][c] - mean_maps[1][c])}
               for c in order]
    return {"order": order, "ranking": ranking, "mean_maps": mean_maps}


def ablation(loaded, layer: str, images: np.ndarray, labels: np.ndarray, pair, order, draws: int, seed: int,
             baseline: torch.Tensor) -> dict:
    """Margin and accuracy on the pair's images with the top-k ranked channels zeroed, against k random ones."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    channels = len(order)
    generator = np.random.default_rng(seed)
    rows = []
    for k in [k for k in ABLATION_SIZES if k <= channels]:
        random = [scores(zeroed_logits(loaded, layer, images, generator.choice(channels, k, replace=False)), labels, pair)
                  for _ in range(draws)]
        rows.append({"k": k, "top_channels": order[:k].tolist(),
                     "top": scores(zeroed_logits(loaded, layer, images, order[:k]), labels, pair),
                     "random_margin": float(np.mean([r["margin"] for r in random])),
                     "random_margin_std": float(np.std([r["margin"] for r in random])),
                     "random_accuracy": float(np.mean([r["accuracy"] for r in random]))})
    return {"fill": "zero", "method": ABLATION_METHOD.format(layer=layer), "baseline": scores(baseline, labels, pair),
            "by_k": rows, "draws": draws, "seed": seed, "images": len(labels)}


def run_user_featuremaps(loaded, data=None, image: np.ndarray | None = None, layer: str | None = None,
                         classes=None, options: FeatureMapsOptions = FeatureMapsOptions(),
                         out: str | Path | None = None) -> dict:
    """The maps of `layer` (default: the third Conv2d) for `image` or one image per class of the pair; with
    `data` the channel ranking and the zero ablation; with `out` the figures."""
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
        result.update(counts=[len(m) for m in by_class], mean_maps=ranked["mean_maps"],
                      channel_ranking=ranked["ranking"],
                      ablation=ablation(loaded, layer, images, chosen_labels, pair, ranked["order"], options.draws,
                                        options.seed, logits))
    result["finding"] = describe_user_featuremaps(result)
    result["figures"] = [] if out is None else user_featuremap_figures(result, Path(out), options.top)
    return result


def user_featuremap_figures(result: dict, out: Path, top: int) -> list[dict]:
    """OUT/featuremaps_<layer>.png and, with the ablation, OUT/featuremaps_<layer>_ablation.png."""
    layer = result["layer"]
    prefix = out / f"featuremaps_{layer.replace('/', '_')}"
    records = [figure(out, draw_user_feature_maps(result, f"{prefix}.png", top),
                      f"The channels of {layer}'s output for " + " and ".join(e["source"] for e in result["examples"])
                      + (", and their difference" if "difference" in result else "") + ", on one colour scale.",
                      f"{layer} feature maps.")]
    if "ablation" in result:
        records.append(figure(out, draw_user_ablation(result, f"{prefix}_ablation.png"),
                              f"Margin and accuracy with the top-k ranked channels {result['ablation']['method']}, "
                              "against k random channels.", "Ablation: ranked channels against random ones."))
    return records
