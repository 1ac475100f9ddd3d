"""The sentences of the occlusion analysis, built from its measured numbers."""

import numpy as np

from nnscope.vision.occlusion.parts import CRITICAL


def describe_occlusion(result: dict) -> list[str]:
    """The finding of `run_occlusion`: which parts of the one digit matter, then over many digits
    (or, for the whole test set, what was computed how fast)."""
    if "npz" in result:
        return describe_test_set(result)
    return list(result["which_parts_matter"]["text"]) + list(result.get("aggregate", {}).get("text", []))


def describe_test_set(result: dict) -> list[str]:
    """One sentence on the maps of the whole test set: how many, which loops, how fast, where."""
    return [f"Occlusion maps of {result['images']} test images ({result['positions']} positions each, patch "
            f"{result['patch']}, stride {result['stride']}, fill {result['fill']:g}) in {result['seconds']:.1f} s = "
            f"{result['images_per_second']:.1f} images/s on {result['processes']} process(es), {result['loops']} "
            f"loops: {result['npz']}"]


def describe_parts(summary: dict, digit: int, patch: int) -> list[str]:
    """Sentences from the numbers of `which_parts_matter` on one image."""
    name = f"P('{digit}')"
    lines = []
    if summary["critical_positions"]:
        lines.append(f"At {summary['critical_positions']} of {summary['positions']} positions of the "
                     f"{patch}x{patch} patch, {name} falls below {CRITICAL}; the lowest is "
                     f"{summary['lowest_probability']:.3f}.")
    else:
        lines.append(f"No position of the {patch}x{patch} patch pushes {name} below {CRITICAL}; the lowest is "
                     f"{summary['lowest_probability']:.3f}.")
    if summary["flipped_positions"]:
        to = ", ".join(f"'{k}' at {v}" for k, v in sorted(summary["flipped_to"].items(), key=lambda kv: -kv[1]))
        lines.append(f"The label flips at {summary['flipped_positions']} positions: to {to}.")
    else:
        lines.append("The label never flips.")
    parts = sorted(summary["parts"].items(), key=lambda kv: -kv[1]["mean_drop"])
    if parts:
        lines.append("Per hidden pixel, " + name + " drops most for the " + ", then the ".join(
            f"{part} ({p['mean_drop']:.3f})" for part, p in parts) + ".")
    shares = sorted(((p["hidden_share"], part) for part, p in summary["parts"].items() if p["hidden_share"] > 0),
                    reverse=True)
    if shares:
        lines.append("Of the ink hidden by the critical patches, " + ", ".join(
            f"{share:.0%} is {part}" for share, part in shares) + ".")
    return lines


def describe_aggregate(aggregate: dict, digit: int, patch: int) -> list[str]:
    """Sentences from the numbers of `aggregate_parts`."""
    n = aggregate["images"]
    lines = [f"Over {n} correctly classified test '{digit}'s: for {aggregate['images_with_critical']} of them "
             f"some {patch}x{patch} patch pushes P('{digit}') below {CRITICAL}, and for "
             f"{aggregate['images_with_flip']} some patch flips the label; {aggregate['images_with_loop']} "
             f"have a closed loop."]
    parts = sorted(aggregate["parts"].items(), key=lambda kv: -kv[1]["mean_drop"])
    lines.append(f"Mean drop in P('{digit}') per hidden pixel, by part: " + "; ".join(
        f"{part} {p['mean_drop']:.3f} ({p['images']} images)" for part, p in parts) + ".")
    mean_map = aggregate["mean_true_class_probability"]
    r, c = np.unravel_index(mean_map.argmin(), mean_map.shape)
    lines.append(f"On average the most damaging patch has its top-left corner at row {r}, column {c}: "
                 f"mean P('{digit}') {mean_map[r, c]:.3f}, label flipped in "
                 f"{aggregate['flipped_fraction'][r, c]:.0%} of the images.")
    return lines
