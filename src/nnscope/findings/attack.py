"""The sentences of the transplant attack, built from its measured numbers."""


def describe_attack(result: dict) -> list[str]:
    """Whether pastes fool the network on the example image, the smallest that does, the digits
    reached, and the success rate over many images."""
    d, successes = result["digit"], result["successes"]
    if not successes:
        lines = [f"None of the {result['candidates']:,} pastes tried on test image {result['index']} changes the "
                 f"label of the '{d}'."]
    else:
        by_label = {}
        for s in successes:
            by_label[s["prediction"]] = by_label.get(s["prediction"], 0) + 1
        best = successes[0]
        size = result["smallest_patch"]
        lines = [
            f"Yes. Of {result['candidates']:,} pastes tried on test image {result['index']}, {len(successes):,} make "
            f"the network call the '{d}' something else (each checked by a full forward pass on the pasted image).",
            f"The smallest patch that works is {size}x{size} pixels: cut from test image {best['donor_index']} (a "
            f"'{best['donor_digit']}') and pasted at row {best['target_row']}, column {best['target_col']}, it gives "
            f"'{best['prediction']}' with p = {best['probabilities'][best['prediction']]:.3f}.",
            "Digits reached: " + ", ".join(f"'{k}' ({v} pastes)" for k, v in sorted(by_label.items())) + ".",
        ]
    rate = result.get("rate")
    if rate:
        sizes = ", ".join(f"{s}x{s}: {v:.0%}" for s, v in rate["rate_by_size"].items())
        lines.append(f"Over {rate['images']} correctly classified test '{d}'s (pastes on a {rate['stride']}-pixel "
                     f"grid), {rate['fooled']} ({rate['rate']:.0%}) can be fooled by some paste; by patch size {sizes}.")
    return lines
