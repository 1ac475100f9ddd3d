"""Report stages of Problem 2: thin adapters that call nnscope.vision and its figure modules
the way their commands do (same functions, same defaults), plus the data of the page's widgets."""

import numpy as np

from nnscope.report.context import Context, figure

AGGREGATE, QUICK_AGGREGATE = 100, 10  # correctly classified 6s whose occlusion maps are averaged (command: 100)
RATE_IMAGES, QUICK_RATE_IMAGES = 30, 5  # 6s over which the transplant success rate is measured (command: 30)


def pixels(image) -> list[list[int]]:
    """A [0, 1] image (28, 28) as 0-255 integers: compact in the page, exact for MNIST's k/255 values."""
    return np.rint(np.asarray(image, dtype=np.float64) * 255).astype(int).tolist()


def occlusion_section(ctx: Context) -> dict:
    """Problem 2.1-2.2: the three occlusion maps of a 6, the ten probabilities at every patch position
    (for the explorer), which parts matter, and the same over many 6s (as `nnscope occlude`)."""
    from nnscope.report.figures_occlusion import draw_aggregate, draw_occlusion_maps, draw_parts
    from nnscope.vision.occlusion_regions import occlusion_analysis, regions_without_masks

    aggregate = QUICK_AGGREGATE if ctx.quick else AGGREGATE
    result = occlusion_analysis(ctx.model, ctx.digits, digit=6, patch=8, stride=1, fill=0.0, aggregate=aggregate)
    d, p = result["digit"], result["patch"]
    result["figures"] = [
        figure(ctx.out, draw_occlusion_maps(result, ctx.out / "occlusion_maps.png"),
               f"The '{d}' and three maps over the {p}x{p} patch positions: probability of '{d}', highest probability "
               "(both on a 0 to 1 scale) and predicted label (ten colours).",
               f"Occlusion maps of test image {result['index']}: each cell is one position of the patch."),
        figure(ctx.out, draw_parts(result, ctx.out / "occlusion_parts.png"),
               f"The parts of the '{d}' and the region where hiding them drops P('{d}') below one half.",
               "Which parts matter: the critical region drawn over the digit."),
    ]
    if "aggregate" in result:
        result["figures"].append(figure(
            ctx.out, draw_aggregate(result, ctx.out / "occlusion_aggregate.png"),
            f"Mean maps over {result['aggregate']['images']} correctly classified test '{d}'s.",
            "The same measured over many images: which regions matter on average."))
    regions = result.pop("regions")
    result["which_parts_matter"] = regions_without_masks(regions)
    result["answer"] = list(regions["text"]) + list(result.get("aggregate", {}).get("text", []))
    result["explorer"] = {"image": pixels(result["image"]), "starts": result["starts"], "patch": p,
                          "fill": result["fill"], "digit": d, "probabilities": result["probabilities"]}
    return result


def transplant_section(ctx: Context) -> dict:
    """Problem 2.3: square patches cut from other digits pasted on the 6 (as `nnscope attack`)."""
    from nnscope.data import as_float_images
    from nnscope.report.figures_occlusion import draw_transplants
    from nnscope.vision.transplant import DEFAULT_SIZES, examples_to_draw, transplant_attack

    rate_images = QUICK_RATE_IMAGES if ctx.quick else RATE_IMAGES
    result = transplant_attack(ctx.model, ctx.digits, 6, None, DEFAULT_SIZES, donors_per_digit=2,
                               rate_images=rate_images, rate_stride=2)
    examples = examples_to_draw(result["successes"])
    result["examples"] = [result["successes"].index(s) for s in examples]
    if examples:
        donors = as_float_images(ctx.digits.test_images[[s["donor_index"] for s in examples]])[:, 0].numpy()
        path = draw_transplants(result, examples, donors, ctx.out / "transplant_examples.png")
        result["figures"] = [figure(ctx.out, path, f"Pastes that fool the network: the '{result['digit']}', the "
                                    "donor digit with the cut outlined, and the result with its new label.",
                                    "Patch transplants that change the label, smallest patches first.")]
    else:
        result["figures"] = []
    shown = set(result["examples"])
    for k, success in enumerate(result["successes"]):  # keep the pictures only of the examples the page draws
        if k not in shown:
            success.pop("adversarial_image")
    result["answer"] = transplant_answer(result)
    return result


def transplant_answer(r: dict) -> list[str]:
    """Sentences built from a `transplant_attack` result."""
    d, successes = r["digit"], r["successes"]
    if not successes:
        lines = [f"None of the {r['candidates']:,} pastes tried on test image {r['index']} changes the label of the '{d}'."]
    else:
        by_label = {}
        for s in successes:
            by_label[s["prediction"]] = by_label.get(s["prediction"], 0) + 1
        best = successes[0]
        lines = [
            f"Yes. Of {r['candidates']:,} pastes tried on test image {r['index']}, {len(successes):,} make the network "
            f"call the '{d}' something else (each checked by a full forward pass on the pasted image).",
            f"The smallest patch that works is {r['smallest_patch']}x{r['smallest_patch']} pixels: cut from test image "
            f"{best['donor_index']} (a '{best['donor_digit']}') and pasted at row {best['target_row']}, column "
            f"{best['target_col']}, it gives '{best['prediction']}' with "
            f"p = {best['probabilities'][best['prediction']]:.3f}.",
            "Digits reached: " + ", ".join(f"'{k}' ({v} pastes)" for k, v in sorted(by_label.items())) + ".",
        ]
    rate = r.get("rate")
    if rate:
        sizes = ", ".join(f"{s}x{s}: {v:.0%}" for s, v in rate["rate_by_size"].items())
        lines.append(f"Over {rate['images']} correctly classified test '{d}'s (pastes on a {rate['stride']}-pixel grid), "
                     f"{rate['fooled']} ({rate['rate']:.0%}) can be fooled by some paste; by patch size {sizes}.")
    return lines
