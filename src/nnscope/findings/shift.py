"""Sentences about shifting: the example's predictions, the sweep's paddings and the digits that break first."""

import numpy as np

from nnscope.options.shift import SIDE


def describe_shift(result: dict) -> list[str]:
    """Sentences built from a `shift experiment (`run_shift`) result and, if present, its `sweep`."""
    digit, pixels, padding = result["digit"], result["pixels"], result["padding"]
    original = result["original"]
    lines = [f"Test image {result['index']} (a '{digit}') is predicted '{original['prediction']}' with p = "
             f"{original['probabilities'][original['prediction']]:.4f}."]
    lines += describe_sides(result, lambda k: f"'{k}'", also=digit)
    for side, change in result.get("first_change", {}).items():
        line = (f"Shifted further {side}, it is first predicted as something else at {change['pixels']} px "
                f"('{change['prediction']}')" if change["pixels"] else
                f"Shifted {side} by any amount up to {SIDE - 1} px it stays '{original['prediction']}'")
        if change["empty_from"]:
            line += f"; from {change['empty_from']} px on, no ink is left in the image"
        lines.append(line + ".")
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
    """Sentences built from a `shift_sweep` result: paddings compared, the example's digit, the digits that break first."""
    shifts = list(sweep["shifts"])
    zero, edge = shifts.index(0), max(shifts)
    lines = []
    for axis, (minus, plus) in (("x", ("left", "right")), ("y", ("up", "down"))):
        table = {p: np.asarray(v) for p, v in sweep["accuracy"][axis].items()}
        lines.append(describe_paddings(table, sweep["paddings"], sweep["images"], zero, edge, minus, plus))
        if padding in table and pixels in shifts and -pixels in shifts:
            own = np.asarray(sweep["per_digit"][axis][padding][digit])
            lines.append(f"With {padding} padding, {pixels} px {minus}/{plus} gives {table[padding][shifts.index(-pixels)]:.2%}"
                         f"/{table[padding][shifts.index(pixels)]:.2%} over all digits and {own[shifts.index(-pixels)]:.2%}"
                         f"/{own[shifts.index(pixels)]:.2%} over the '{digit}'s (unshifted {own[zero]:.2%}).")
        if padding in table:
            lines.append(describe_breaks(sweep, axis, padding))
    lines.append(f"Paddings can only differ where a digit has ink near the border: {sweep['edge_share']:.1%} of these "
                 f"images have ink on the edge itself (clamp vs zero) and {sweep['ring_share']:.1%} within {edge} px of it.")
    return lines


def describe_paddings(table: dict, paddings: list[str], images: int, zero: int, edge: int, minus: str, plus: str) -> str:
    """One sentence: the accuracy at the largest shift each way, per group of paddings that give the same numbers."""
    groups = {}  # (accuracy at -edge, at +edge) -> the paddings that give it; paddings often tie exactly
    for padding in paddings:
        groups.setdefault((float(table[padding][0]), float(table[padding][-1])), []).append(padding)
    ranked = sorted(groups.items(), key=lambda item: -sum(item[0]))  # best mean of the two sides first
    (best, best_names), (worst, worst_names) = ranked[0], ranked[-1]
    named = lambda names: " or ".join(names) + " padding"  # noqa: E731
    start = (f"Over {images} test images (unshifted accuracy {table[paddings[0]][zero]:.2%}), a shift of {edge} px "
             f"{minus}/{plus} leaves {best[0]:.1%}/{best[1]:.1%}")
    if len(ranked) == 1:
        return start + f" with every padding ({', '.join(paddings)}): here the padding mode makes no difference."
    spread = sum(best) / 2 - sum(worst) / 2
    return (start + f" with {named(best_names)} and {worst[0]:.1%}/{worst[1]:.1%} with {named(worst_names)}: "
            + (f"the padding mode barely matters (within {100 * spread:.1f} points)" if spread < 0.02 else
               f"{named(best_names)} is the most robust by {100 * spread:.1f} points") + ".")


def describe_breaks(sweep: dict, axis: str, padding: str) -> str:
    """One sentence: the three digits whose accuracy falls below BREAK_ACCURACY at the smallest shift."""
    rows = sweep["breaks"][axis][padding]
    nearest = lambda r: min([abs(v) for v in (r["negative"], r["positive"]) if v is not None] or [SIDE])  # noqa: E731
    broken = [r for r in sorted(rows, key=nearest) if nearest(r) < SIDE][:3]
    if not broken:
        return (f"Shifting in {axis} with {padding} padding, every digit stays above {sweep['break_accuracy']:.0%} "
                f"up to {max(sweep['shifts'])} px.")
    return (f"Shifting in {axis} with {padding} padding, the digits whose accuracy falls below "
            f"{sweep['break_accuracy']:.0%} first are " + "; ".join(
                f"'{r['digit']}' (at " + " and ".join(f"{v:+d} px" for v in (r["negative"], r["positive"]) if v is not None)
                + ")" for r in broken) + ".")
