"""Sentences about the feature maps of any model's layer, from `run_user_featuremaps`'s measurements."""

from nnscope.findings.featuremaps import listed


def describe_user_featuremaps(result: dict) -> list[str]:
    """The examples' predictions, the channels that separate the two classes most, and what zeroing them costs."""
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
    study = result["ablation"]
    rows, base = study["by_k"], study["baseline"]
    if rows:
        lines.append(f"Ablation: channels {study['method']}. The top k = {listed([r['k'] for r in rows], '{}')} "
                     f"channels leave accuracy {listed([r['top']['accuracy'] for r in rows], '{:.2%}')} (unablated "
                     f"{base['accuracy']:.2%}) and margin {listed([r['top']['margin'] for r in rows], '{:.2f}')} "
                     f"(unablated {base['margin']:.2f}); k random channels (mean of {study['draws']} draws) leave "
                     f"{listed([r['random_accuracy'] for r in rows], '{:.2%}')} and "
                     f"{listed([r['random_margin'] for r in rows], '{:.2f}')}.")
    return lines
