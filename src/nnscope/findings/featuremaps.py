"""Sentences about the feature maps: which channels separate the two digits, and what ablating them costs."""

import numpy as np


def describe_featuremaps(result: dict) -> list[str]:
    """Sentences built from the measured examples, ranking and ablations."""
    names, layer = result["class_names"], result["layer"]
    lines = []
    for e in result["examples"]:
        label = f" (a '{names[e['label']]}')" if e["label"] is not None else ""
        c, h, w = e["feature_maps"].shape
        lines.append(f"{e['source'][0].upper()}{e['source'][1:]}{label} is predicted '{names[e['prediction']]}' "
                     f"(p = {e['probabilities'][e['prediction']]:.4f}); {layer} gives {c} maps of {h} x {w}.")
    if result.get("skipped"):
        return lines + [result["skipped"][0].upper() + result["skipped"][1:] + "."]
    a, b = (names[k] for k in result["pair"])
    top = result["channel_ranking"][:3]
    lines.append(
        f"Over {result['counts'][0]} '{a}' and {result['counts'][1]} '{b}' images, the {layer} channels that separate "
        f"them most (Cohen's d of the spatially averaged activation) are "
        + "; ".join(f"{r['channel']} (d = {r['effect_size']:+.2f}, higher for '{names[r['higher_for']]}', largest "
                    f"difference at the {r['where']})" for r in top) + ".")
    strong = sum(abs(r["effect_size"]) >= 0.8 for r in result["channel_ranking"])
    lines.append(f"{strong} of {len(result['channel_ranking'])} channels have |d| >= 0.8 (a large effect).")
    if result["ablated_at"] != layer:
        lines.append(f"Ablated channels are replaced in the output of {result['ablated_at']}, where the rest of the "
                     "network reads them.")
    if result["ablation"]["by_k"]:
        lines += describe_ablation(result["ablation"], a, b)
    mean = result["mean_ablation"]
    if mean["by_k"]:
        # feeding the linear layer, a mean fill shifts all logits by one vector: its mean margin repeats zeroing's
        fixed_offset = result.get("feeds_output_layer", False)
        lines += describe_ablation(mean, a, b, margins=not fixed_offset)
        if fixed_offset:
            lines.append(describe_fixed_offset(result, a, b))
    return lines


def listed(values, form: str) -> str:
    """'0.10, 0.19, 0.42': the values in one format."""
    return ", ".join(form.format(v) for v in values)


def describe_ablation(ablation: dict, a: str, b: str, margins: bool = True) -> list[str]:
    """Sentences on one ablation study: top-k against random k, in accuracy (and margin), and which digit pays."""
    base, rows = ablation["baseline"], ablation["by_k"]
    verb = {"zero": "Zeroing", "mean": "Replacing by their mean map"}[ablation["fill"]]
    top_drops = [base["margin"] - r["top"]["margin"] for r in rows]
    random_drops = [base["margin"] - r["random_margin"] for r in rows]
    sentence = (
        f"{verb} the top k = {listed([r['k'] for r in rows], '{}')} channels leaves accuracy "
        f"{listed([r['top']['accuracy'] for r in rows], '{:.2%}')} on these images (unablated {base['accuracy']:.2%}); "
        f"k random channels (mean of {ablation['draws']} draws) leave {listed([r['random_accuracy'] for r in rows], '{:.2%}')}.")
    if margins:
        sentence += (f" The mean '{a}'-vs-'{b}' logit margin ({base['margin']:.2f} unablated) falls by "
                     f"{listed(top_drops, '{:.2f}')} for the top channels and {listed(random_drops, '{:.2f}')} for random ones.")
    gaps = [r["random_accuracy"] - r["top"]["accuracy"] for r in rows]
    row = rows[int(np.argmax(gaps))]
    worse_margin = sum(t > r for t, r in zip(top_drops, random_drops))
    summary = (f"The top channels cost more margin than random ones for {worse_margin} of {len(rows)} values of k, "
               f"and more accuracy for {sum(g > 0 for g in gaps)} of {len(rows)}" if margins else
               f"The top channels cost more accuracy than random ones for {sum(g > 0 for g in gaps)} of {len(rows)} "
               "values of k")
    if max(gaps) > 0:
        summary += (f"; the largest accuracy gap is at k = {row['k']} ({row['top']['accuracy']:.2%} against "
                    f"{row['random_accuracy']:.2%}), with {row['top']['accuracy_by_digit'][0]:.2%} of the '{a}' images and "
                    f"{row['top']['accuracy_by_digit'][1]:.2%} of the '{b}' images right (unablated "
                    f"{base['accuracy_by_digit'][0]:.2%} and {base['accuracy_by_digit'][1]:.2%})")
    return [sentence, summary + "."]


def describe_fixed_offset(result: dict, a: str, b: str) -> str:
    """Why the mean fill's mean margin repeats zeroing's for a layer that feeds the linear output layer."""
    layer, counts = result["ablated_at"], result["counts"]
    zero, mean = result["ablation"]["by_k"][-1], result["mean_ablation"]["by_k"][-1]
    moved = [m - z for m, z in zip(mean["top"]["margin_by_digit"], zero["top"]["margin_by_digit"])]
    return (f"The mean fill's margins are not repeated: {layer}'s output feeds the linear output layer directly, "
            f"so setting channels to their mean map instead of zero adds one fixed vector to every image's logits. "
            f"For the top {zero['k']} channels it moves the margin of the '{a}' images by {moved[0]:+.2f} and that of "
            f"the '{b}' images by {moved[1]:+.2f}, which cancel in the mean over {counts[0]} '{a}' and {counts[1]} "
            f"'{b}' images: "
            f"the mean margins of the two fills differ by at most {result['mean_vs_zero_margin']:.1e} over k.")
