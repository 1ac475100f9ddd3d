"""Sentences about shifting an image of any size through the user's model, from `run_user_shift`'s measurements."""

from nnscope.findings.shift import describe_sides


def describe_user_shift(result: dict) -> list[str]:
    """The example's predictions, where they first change, and the sweep's accuracy at the largest shifts."""
    names, original = result["class_names"], result["original"]
    named = lambda k: repr(names[k])  # noqa: E731
    label = f" (labelled {named(result['label'])})" if result["label"] is not None else ""
    lines = [f"The {' x '.join(map(str, result['image_shape']))} image from {result['source']}{label} is predicted "
             f"{named(original['prediction'])} with p = {original['probabilities'][original['prediction']]:.4f}."]
    lines += describe_sides(result, named)
    width = result["image_shape"][2]
    for side, change in result["first_change"].items():
        lines.append(f"Shifted further {side}, it is first predicted as something else at {change['pixels']} px "
                     f"({named(change['prediction'])})." if change["pixels"] else
                     f"Shifted {side} by any amount up to {width - 1} px it stays {named(original['prediction'])}.")
    if "skipped" in result:
        lines.append(result["skipped"][0].upper() + result["skipped"][1:] + ".")
    if "sweep" in result:
        sweep = result["sweep"]
        shifts = list(sweep["shifts"])
        zero, edge = shifts.index(0), max(shifts)
        for axis, (minus, plus) in (("x", ("left", "right")), ("y", ("up", "down"))):
            parts = [f"{p} {sweep['accuracy'][axis][p][0]:.1%}/{sweep['accuracy'][axis][p][-1]:.1%}"
                     for p in sweep["paddings"]]
            lines.append(f"Over {sweep['images']} images (unshifted accuracy "
                         f"{sweep['accuracy'][axis][sweep['paddings'][0]][zero]:.2%}), a shift of {edge} px "
                         f"{minus}/{plus} leaves: " + ", ".join(parts) + ".")
    return lines
