"""Report stages of Problem 1: thin adapters that call nnscope.vision and its figure modules
the way their commands do (same functions, same defaults), plus the data of the page's widgets."""

import numpy as np

from nnscope.report.context import Context, figure

SLIDER_SHIFTS = range(-6, 7)  # the shift slider: -6..+6 pixels in x, clamp padding
QUICK_LIMIT = 1000  # test images the whole-test-set aggregates use in the quick configuration
SWEEP_LIMIT = 2000  # test images of the shift sweep (about 100 passes) in the full report; the command's default: all
QUICK_SWEEP_LIMIT = 300  # ... and in the quick configuration


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
