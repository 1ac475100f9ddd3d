"""Report stages of Problems 1 and 2: thin adapters that call nnscope.vision and its figure modules
the way their commands do (same functions, same defaults), plus the data of the page's widgets."""

import numpy as np

from nnscope.report.context import Context, figure

SLIDER_SHIFTS = range(-6, 7)  # the shift slider: -6..+6 pixels in x, clamp padding
QUICK_LIMIT = 1000  # test images the whole-test-set aggregates use in the quick configuration
SWEEP_LIMIT = 2000  # test images of the shift sweep (about 100 passes) in the full report; the command's default: all
QUICK_SWEEP_LIMIT = 300  # ... and in the quick configuration
AGGREGATE, QUICK_AGGREGATE = 100, 10  # correctly classified 6s whose occlusion maps are averaged (command: 100)
RATE_IMAGES, QUICK_RATE_IMAGES = 30, 5  # 6s over which the transplant success rate is measured (command: 30)


def pixels(image) -> list[list[int]]:
    """A [0, 1] image (28, 28) as 0-255 integers: compact in the page, exact for MNIST's k/255 values."""
    return np.rint(np.asarray(image, dtype=np.float64) * 255).astype(int).tolist()


def filters_section(ctx: Context) -> dict:
    """Problem 1.1: the filters of conv1-conv3 and their statistics (as `nnscope filters`)."""
    from nnscope.report.figures_problem1 import draw_filters
    from nnscope.vision.filters import DEFAULT_LAYERS, describe_filters, filter_statistics, filter_weights

    layers, figures = {}, []
    for name, weights in filter_weights(ctx.model, DEFAULT_LAYERS).items():
        layers[name] = filter_statistics(weights)
        out, inp, k, _ = weights.shape
        path = draw_filters(name, weights, ctx.out / f"filters_{name}.png")
        figures.append(figure(ctx.out, path, f"The {out} filters of {name}, each {inp} x {k} x {k} weights, on one "
                              "blue-white-red scale centred at zero (blue negative, red positive).",
                              f"{name}: every filter, one row per output filter and one tile per input channel."
                              if inp > 1 else f"{name}: every 3x3 kernel."))
    return {"layers": layers, "figures": figures, "answer": describe_filters(layers)}


def featuremaps_section(ctx: Context) -> dict:
    """Problem 1.2: conv3 maps of a 0 and an 8, channels ranked by Cohen's d, ablations (as `nnscope featuremaps`)."""
    from nnscope.report.figures_problem1 import draw_ablation, draw_feature_maps, draw_top_channels
    from nnscope.vision.featuremaps import DEFAULT_LAYER, DEFAULT_PAIR, featuremap_analysis

    limit = QUICK_LIMIT if ctx.quick else None
    result = featuremap_analysis(ctx.model, ctx.digits, DEFAULT_PAIR, DEFAULT_LAYER, seed=ctx.seed, limit=limit)
    a, b = result["pair"]
    layer = result["layer"]
    prefix = ctx.out / f"featuremaps_{layer}"
    result["figures"] = [
        figure(ctx.out, draw_feature_maps(result, f"{prefix}.png"),
               f"Every {layer} channel for the '{a}' and the '{b}' side by side on one colour scale, and their difference.",
               f"{layer} feature maps of test images {result['examples'][0]['index']} and "
               f"{result['examples'][1]['index']}, and the difference '{a}' minus '{b}'."),
        figure(ctx.out, draw_top_channels(result, f"{prefix}_top.png", 6),
               f"Mean maps over all test '{a}'s and '{b}'s of the six {layer} channels with the largest effect size.",
               "The channels that separate the two digits most, averaged over the test set."),
        figure(ctx.out, draw_ablation(result, f"{prefix}_ablation.png"),
               "Logit margin and accuracy when the top-k ranked channels are zeroed (top row) or set to their "
               "mean map (bottom row), against k random channels.",
               "Ablation: the ranked channels against random ones, zeroed and set to their mean map."),
    ]
    result["answer"] = result.pop("finding")
    result["limit"] = limit
    return result


def shift_section(ctx: Context) -> dict:
    """Problem 1.3: a 1 shifted 3 px left and right with clamp padding, the slider data, the shift sweep."""
    from nnscope.report.figures_problem1 import draw_shift_example, draw_shift_per_digit, draw_shift_sweep
    from nnscope.vision.shift import classify, describe_shift, shift_experiment, shift_image, shift_sweep

    result = shift_experiment(ctx.model, ctx.digits, digit=1, pixels=3, padding="clamp")
    original = np.asarray(result["original"]["image"])
    views = [classify(ctx.model, shift_image(original, dx, 0, "clamp")) for dx in SLIDER_SHIFTS]
    result["slider"] = {"shifts": list(SLIDER_SHIFTS), "padding": "clamp",
                        "images": [pixels(v["image"]) for v in views],
                        "predictions": [v["prediction"] for v in views],
                        "probabilities": [v["probabilities"] for v in views]}
    limit = QUICK_SWEEP_LIMIT if ctx.quick else SWEEP_LIMIT
    result["sweep"] = shift_sweep(ctx.model, ctx.digits, limit=limit,
                                  progress=ctx.progress)
    result["answer"] = describe_shift(result)
    result["figures"] = [
        figure(ctx.out, draw_shift_example(result, ctx.out / "shift_example.png"),
               f"The '1' (test image {result['index']}) and its copies shifted 3 pixels left and right with clamp "
               "padding, each with its top probabilities.", "The original and the two shifted images."),
        figure(ctx.out, draw_shift_sweep(result["sweep"], ctx.out / "shift_sweep.png"),
               "Test accuracy against the shift in x and in y for the four padding modes.",
               f"Accuracy over {result['sweep']['images']} test images for every shift from -6 to +6 pixels."),
        figure(ctx.out, draw_shift_per_digit(result["sweep"], ctx.out / "shift_per_digit.png", padding="clamp"),
               "Heat map of accuracy per digit against the shift, clamp padding.", "Which digits break first."),
    ]
    return result


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
