"""Sentences about the feature maps of any model's layer, from `run_user_featuremaps`'s measurements."""

from nnscope.findings.featuremaps import describe_ablation


def describe_user_featuremaps(result: dict) -> list[str]:
    """The examples' predictions, the channels that separate the two classes most, and what zeroing them or setting
    them to their mean map costs, top-k against random k and one channel at a time."""
    names, layer = result["class_names"], result["layer"]
    lines = []
    for e in result["examples"]:
        label = f" (labelled {names[e['label']]!r})" if e["label"] is not None else ""
        c, h, w = e["feature_maps"].shape
        lines.append(f"{e['source']}{label} is predicted {names[e['prediction']]!r} (p = "
                     f"{e['probabilities'][e['prediction']]:.4f}); {layer} gives {c} maps of {h} x {w}.")
    if "skipped" in result:
        lines.append(result["skipped"][0].upper() + result["skipped"][1:] + ".")
        return lines
    a, b = (names[k] for k in result["pair"])
    top = result["channel_ranking"][:3]
    lines.append(f"Over {result['counts'][0]} {a!r} and {result['counts'][1]} {b!r} images, the {layer} channels that "
                 "separate them most (Cohen's d of the spatially averaged activation) are " + "; ".join(
                     f"{r['channel']} (d = {r['effect_size']:+.2f}, higher for {names[r['higher_for']]!r}, largest "
                     f"difference at the {r['where']})" for r in top) + ".")
    zero, mean = result["ablation"], result["mean_ablation"]
    if zero["by_k"]:
        lines.append(f"Ablation: channels {zero['method']}, or set there to their mean map over the {zero['images']} "
                     f"images of both classes.")
        lines += describe_ablation(zero, a, b) + describe_ablation(mean, a, b)
    alone = [r for r in result["channel_ranking"] if "ablated_margin" in r]
    if alone:
        lines.append(f"One channel at a time (the top {len(alone)}), the mean margin ({zero['baseline']['margin']:.2f} "
                     "unablated) becomes " + "; ".join(
                         f"{r['ablated_margin']:.2f} zeroed and {r['mean_ablated_margin']:.2f} mean-filled for channel "
                         f"{r['channel']}" for r in alone) + ".")
    return lines
