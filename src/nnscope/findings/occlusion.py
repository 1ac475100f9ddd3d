"""The sentences of the occlusion analysis, built from its measured numbers."""

import numpy as np

from nnscope.vision.occlusion.parts import CRITICAL


def describe_occlusion(result) -> list[str]:
    """The finding of `occlusion_analysis`: which parts of the image matter, then over many images of its
    class (or the line saying why that was skipped)."""
    aggregate = result["aggregate"] if "aggregate" in result else None
    skipped = result["aggregate_skipped"] if "aggregate_skipped" in result else None
    drill = result["drill_down"] if "drill_down" in result else None
    approximate = ([f"The map is a drill-down (approximate, R = {drill['share']:g}): {drill['computed_positions']} of "
                    f"{drill['positions']} positions were computed exactly, the others interpolated; the aggregate "
                    "over many images is exact."] if drill and drill["approximate"] else [])
    return (approximate + list(result["which_parts_matter"]["text"]) + list((aggregate or {}).get("text", []))
            + ([skipped] if skipped else []))


def describe_test_set(result: dict) -> list[str]:
    """Sentences on the maps of a whole data set: how many, which loops, how fast, where, what was kept from
    an earlier run, and which images flip most."""
    lines = [f"Occlusion maps of {result['images']} images ({result['positions']} positions each, patch "
             f"{result['patch']}, stride {result['stride']}, fill {result['fill']:g}): {result['images_computed']} "
             f"computed in {result['seconds']:.1f} s = {result['images_per_second']:.1f} images/s on "
             f"{result['processes']} process(es), {result['loops']} loops: {result['npz']}"]
    if result["shards_kept"]:
        lines.append(f"Resumed: {result['shards_kept']} of {result['shards_total']} shards in {result['shards']} "
                     "were written earlier with the same options, checked and kept.")
    flipped = result["most_flipped"]
    if flipped:
        lines.append("Labels that flip most under the patch (share of positions predicted otherwise): " + ", ".join(
            f"image {f['index']} ({f['share']:.0%})" for f in flipped[:5]) + ".")
    return lines


def patch_text(patch) -> str:
    """8 -> '8x8'; (6, 4) -> '6x4' (height x width)."""
    return f"{patch}x{patch}" if isinstance(patch, int) else f"{patch[0]}x{patch[-1]}"


def split_sentence(split: str) -> str:
    """Which split "which parts matter" used, in words."""
    if split == "digit parts":
        return "Parts: the digit's strokes split by the shape of its ink (loop, stem, ...)."
    return (f"Parts: the cells of a {split.removeprefix('grid ')} grid over the image (the digit-part split "
            "needs a grey 28 x 28 image of a model of the ten digits).")


def describe_parts(summary: dict, digit: int, patch, names=None) -> list[str]:
    """Sentences from the numbers of `which_parts_matter` (or `measure_regions`) on one image; `names`:
    the class names (default: the class indices); a summary with a `split` says which split it used."""
    label = (lambda k: names[k]) if names is not None else (lambda k: k)
    name, patch = f"P('{label(digit)}')", patch_text(patch)
    lines = []
    if summary["critical_positions"]:
        lines.append(f"At {summary['critical_positions']} of {summary['positions']} positions of the "
                     f"{patch} patch, {name} falls below {CRITICAL}; the lowest is "
                     f"{summary['lowest_probability']:.3f}.")
    else:
        lines.append(f"No position of the {patch} patch pushes {name} below {CRITICAL}; the lowest is "
                     f"{summary['lowest_probability']:.3f}.")
    if summary["flipped_positions"]:
        to = ", ".join(f"'{label(k)}' at {v}" for k, v in sorted(summary["flipped_to"].items(), key=lambda kv: -kv[1]))
        flipped = summary["flipped_positions"]
        lines.append(f"The label flips at {flipped} position{'s' if flipped != 1 else ''}: to {to}.")
    else:
        lines.append("The label never flips.")
    parts = sorted(summary["parts"].items(), key=lambda kv: -kv[1]["mean_drop"])
    if parts:
        lines.append("Per hidden pixel, " + name + " drops most for the " + ", then the ".join(
            f"{part} ({p['mean_drop']:.3f})" for part, p in parts) + ".")
    shares = sorted(((p["hidden_share"], part) for part, p in summary["parts"].items() if p["hidden_share"] > 0),
                    reverse=True)
    what = "ink" if summary.get("split", "digit parts") == "digit parts" else "pixels"
    if shares:
        lines.append(f"Of the {what} hidden by the critical patches, " + ", ".join(
            f"{share:.0%} is {part}" for share, part in shares) + ".")
    if "split" in summary:
        lines.append(split_sentence(summary["split"]))
    return lines


def describe_aggregate(aggregate: dict, name: str, patch, source: str, row_starts, col_starts) -> list[str]:
    """Sentences from the numbers of `occlusion_aggregate` over the images of the class `name` of `source`."""
    n, patch = aggregate["images"], patch_text(patch)
    loops = (f"; {aggregate['images_with_loop']} have a closed loop" if aggregate["split"] == "digit parts" else "")
    lines = [f"Over {n} correctly classified '{name}'s of {source}: for {aggregate['images_with_critical']} of them "
             f"some {patch} patch pushes P('{name}') below {CRITICAL}, and for {aggregate['images_with_flip']} "
             f"some patch flips the label{loops}."]
    parts = sorted(aggregate["parts"].items(), key=lambda kv: -kv[1]["mean_drop"])
    split = "" if aggregate["split"] == "digit parts" else f" ({aggregate['split']})"
    lines.append(f"Mean drop in P('{name}') per hidden pixel, by part{split}: " + "; ".join(
        f"{part} {p['mean_drop']:.3f} ({p['images']} images)" for part, p in parts) + ".")
    mean_map = aggregate["mean_true_class_probability"]
    r, c = np.unravel_index(mean_map.argmin(), mean_map.shape)
    lines.append(f"On average the most damaging patch has its top-left corner at row {row_starts[r]}, column "
                 f"{col_starts[c]}: mean P('{name}') {mean_map[r, c]:.3f}, label flipped in "
                 f"{aggregate['flipped_fraction'][r, c]:.0%} of the images.")
    return lines
