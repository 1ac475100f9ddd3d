"""The sentences of the transplant attack, built from its measured numbers."""


def describe_attack(result) -> list[str]:
    """Whether pastes fool the network on the example image, the smallest that does, the classes
    reached, where the pastes were tried and the success rate over many images."""
    names = result["class_names"]
    d, successes, image = names[result["digit"]], result["successes"], result["source"]
    if not successes:
        lines = [f"None of the {result['candidates']:,} pastes tried on {image} changes the label of the '{d}'."]
    else:
        by_label = {}
        for s in successes:
            by_label[s["prediction"]] = by_label.get(s["prediction"], 0) + 1
        best = successes[0]
        size = result["smallest_patch"]
        lines = [
            f"Yes. Of {result['candidates']:,} pastes tried on {image}, {len(successes):,} make "
            f"the network call the '{d}' something else (each checked by a full forward pass on the pasted image).",
            f"The smallest patch that works is {size}x{size} pixels: cut from image {best['donor_index']} (a "
            f"'{names[best['donor_digit']]}') and pasted at row {best['target_row']}, column {best['target_col']}, it "
            f"gives '{names[best['prediction']]}' with p = {best['probabilities'][best['prediction']]:.3f}.",
            "Classes reached: " + ", ".join(f"'{names[k]}' ({v} pastes)" for k, v in sorted(by_label.items())) + ".",
        ]
    c, h, w = result["image_shape"]
    lines.append(f"Pastes were tried {result['positions']} of the {c} x {h} x {w} image (stride 1), cut from "
                 f"{len(result['donors'])} donors: the first {result['donors_per_class']} correctly classified "
                 f"image{'s' if result['donors_per_class'] > 1 else ''} of each other class of the data.")
    rate = result["rate"] if "rate" in result else None
    if rate:
        sizes = ", ".join(f"{s}x{s}: {v:.0%}" for s, v in rate["rate_by_size"].items())
        lines.append(f"Over {rate['images']} correctly classified '{d}' images of the data (pastes on a "
                     f"{rate['stride']}-pixel grid), {rate['fooled']} ({rate['rate']:.0%}) can be fooled by some "
                     f"paste; by patch size {sizes}.")
    elif "rate_skipped" in result:
        lines.append(result["rate_skipped"])
    return lines
