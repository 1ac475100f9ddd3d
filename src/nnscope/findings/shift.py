"""Sentences about shifting: the example's predictions, the sweep's paddings and the classes that break first."""

import numpy as np


def describe_shift(result: dict) -> list[str]:
    """Sentences built from a `measure_shift` result: the example's predictions, where they first change and,
    if present, its `sweep`."""
    names, digit, pixels, padding = result["class_names"], result["digit"], result["pixels"], result["padding"]
    named = lambda k: f"'{names[k]}'"  # noqa: E731
    original = result["original"]
    label = f"a {named(digit)}" if result["label"] is not None else "label unknown"
    lines = [f"{result['source'][0].upper()}{result['source'][1:]} ({label}) is predicted {named(original['prediction'])} with p = "
             f"{original['probabilities'][original['prediction']]:.4f}."]
    lines += describe_sides(result, named, also=digit)
    width = result["image_shape"][2]
    for side, change in result["first_change"].items():
        line = (f"Shifted further {side}, it is first predicted as something else at {change['pixels']} px "
                f"({named(change['prediction'])})" if change["pixels"] else
                f"Shifted {side} by any amount up to {width - 1} px it stays {named(original['prediction'])}")
        if change["empty_from"]:
            line += f"; from {change['empty_from']} px on, the image is blank (every pixel zero)"
        lines.append(line + ".")
    if result.get("skipped"):
        lines.append(result["skipped"][0].upper() + result["skipped"][1:] + ".")
    if result.get("sweep"):
        lines += describe_sweep(result["sweep"], digit, pixels, padding)
    return lines


def describe_sides(result: dict, named, also: int | None = None) -> list[str]:
    """One sentence per side: whether the shifted image keeps the prediction, with its probability (and that of
    class `also`); `named(k)` writes class k as the sentence shows it."""
    lines = []
    for side in ("left", "right"):
        view = result[side]
        p = view["probabilities"]
        verdict = "changes the prediction to" if result["changed"][side] else "keeps the prediction"
        extra = f"; p({named(also)}) = {p[also]:.4f}" if also is not None else ""
        lines.append(f"Shifted {result['pixels']} px {side} with {result['padding']} padding it {verdict} "
                     f"{named(view['prediction'])} (p = {p[view['prediction']]:.4f}{extra}).")
    return lines


def describe_sweep(sweep: dict, digit: int, pixels: int, padding: str) -> list[str]:
    """Sentences built from a `shift_sweep` result: paddings compared, the example's class, the classes that break
    first."""
    names = sweep["class_names"]
    shifts = list(sweep["shifts"])
    zero, edge = shifts.index(0), max(shifts)
    lines = []
    for axis, (minus, plus) in (("x", ("left", "right")), ("y", ("up", "down"))):
        table = {p: np.asarray(v) for p, v in sweep["accuracy"][axis].items()}
        lines.append(describe_paddings(table, sweep["paddings"], sweep["images"], zero, edge, minus, plus))
        if padding in table and pixels in shifts and -pixels in shifts:
            own = np.asarray(sweep["per_digit"][axis][padding][digit])
            lines.append(f"With {padding} padding, {pixels} px {minus}/{plus} gives {table[padding][shifts.index(-pixels)]:.2%}"
                         f"/{table[padding][shifts.index(pixels)]:.2%} over all classes and {own[shifts.index(-pixels)]:.2%}"
                         f"/{own[shifts.index(pixels)]:.2%} over the '{names[digit]}' images (unshifted {own[zero]:.2%}).")
        if padding in table:
            lines.append(describe_breaks(sweep, axis, padding))
    lines.append(f"Paddings can only differ where an image has nonzero pixels near the border: {sweep['edge_share']:.1%} "
                 f"of these images have some on the edge itself (clamp vs zero) and {sweep['ring_share']:.1%} within "
                 f"{edge} px of it.")
    return lines


def describe_paddings(table: dict, paddings: list[str], images: int, zero: int, edge: int, minus: str, plus: str) -> str:
    """One sentence: the accuracy at the largest shift each way, per group of paddings that give the same numbers."""
    groups = {}  # (accuracy at -edge, at +edge) -> the paddings that give it; paddings often tie exactly
    for padding in paddings:
        groups.setdefault((float(table[padding][0]), float(table[padding][-1])), []).append(padding)
    ranked = sorted(groups.items(), key=lambda item: -sum(item[0]))  # best mean of the two sides first
    (best, best_names), (worst, worst_names) = ranked[0], ranked[-1]
    named = lambda names: " or ".join(names) + " padding"  # noqa: E731
    start = (f"Over {images} images (unshifted accuracy {table[paddings[0]][zero]:.2%}), a shift of {edge} px "
             f"{minus}/{plus} leaves {best[0]:.1%}/{best[1]:.1%}")
    if len(ranked) == 1:
        return start + f" with every padding ({', '.join(paddings)}): here the padding mode makes no difference."
    spread = sum(best) / 2 - sum(worst) / 2
    return (start + f" with {named(best_names)} and {worst[0]:.1%}/{worst[1]:.1%} with {named(worst_names)}: "
            + (f"the padding mode barely matters (within {100 * spread:.1f} points)" if spread < 0.02 else
               f"{named(best_names)} is the most robust by {100 * spread:.1f} points") + ".")


def describe_breaks(sweep: dict, axis: str, padding: str) -> str:
    """One sentence: the three classes whose accuracy falls below BREAK_ACCURACY at the smallest shift."""
    rows, names = sweep["breaks"][axis][padding], sweep["class_names"]
    never = max(sweep["shifts"]) + 1
    nearest = lambda r: min([abs(v) for v in (r["negative"], r["positive"]) if v is not None] or [never])  # noqa: E731
    broken = [r for r in sorted(rows, key=nearest) if nearest(r) < never][:3]
    if not broken:
        return (f"Shifting in {axis} with {padding} padding, every class stays above {sweep['break_accuracy']:.0%} "
                f"up to {max(sweep['shifts'])} px.")
    return (f"Shifting in {axis} with {padding} padding, the classes whose accuracy falls below "
            f"{sweep['break_accuracy']:.0%} first are " + "; ".join(
                f"'{names[r['digit']]}' (at " + " and ".join(f"{v:+d} px" for v in (r["negative"], r["positive"]) if v is not None)
                + ")" for r in broken) + ".")
