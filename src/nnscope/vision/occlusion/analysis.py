"""Problem 2.1-2.2 in one call: `run_occlusion`, the entry point the command, the report and a
notebook share. One digit: its occlusion maps, which of its parts matter, and the same averaged
over many test images of the digit; or (options.test_set) the maps of the whole test set in one .npz.
"""

import time
from pathlib import Path

from nnscope.data import Digits, as_float_images
from nnscope.findings.occlusion import describe_aggregate, describe_occlusion, describe_parts
from nnscope.options.occlusion import OcclusionOptions
from nnscope.progress import Progress
from nnscope.vision.examples import pick_example, predict
from nnscope.vision.occlusion.aggregate import occlusion_aggregate
from nnscope.vision.occlusion.maps import occlusion_maps, occlusion_probabilities
from nnscope.vision.occlusion.parts import regions_without_masks, which_parts_matter
from nnscope.vision.occlusion.spans import patch_starts
from nnscope.vision.occlusion.test_set import occlusion_of_test_set


def run_occlusion(model, data: Digits, options: OcclusionOptions = OcclusionOptions(), out: Path | str | None = None,
                  progress: Progress | None = None) -> dict:
    """The occlusion maps of one correctly classified test digit (rows, cols, 10 probabilities and
    the three maps), which parts matter, the aggregate over options.aggregate_images images and the
    sentences (`finding`); with `out`, the figures drawn there. options.test_set: see occlusion_of_test_set."""
    options.check()
    if options.test_set:
        result = occlusion_of_test_set(model, data, options, out, progress)
        return {**result, "finding": describe_occlusion(result)}
    start = time.perf_counter()
    digit, patch, stride, fill = options.digit, options.patch, options.stride, options.fill
    index = pick_example(model, data, digit, options.index)
    images = as_float_images(data.test_images[index : index + 1])
    probabilities = occlusion_probabilities(model, images, patch, stride, fill)[0]  # (rows, cols, 10)
    unoccluded = predict(model, images)[0].numpy()
    maps = occlusion_maps(probabilities, digit)
    image = images[0, 0].numpy()
    regions = which_parts_matter(image, maps, digit, patch, stride, float(unoccluded[digit]))
    regions["text"] = describe_parts(regions, digit, patch)
    result = {"index": index, "digit": digit, "patch": patch, "stride": stride, "fill": fill,
              "starts": patch_starts(patch, stride), "image": image, "unoccluded_probabilities": unoccluded,
              "probabilities": probabilities, **maps}
    if options.aggregate_images:
        result["aggregate"] = occlusion_aggregate(model, data, digit, options.aggregate_images, patch, stride, fill,
                                                  progress)
        result["aggregate"]["text"] = describe_aggregate(result["aggregate"], digit, patch)
    result["seconds"] = time.perf_counter() - start
    result["figures"] = []
    if out is not None:
        # matplotlib: only when figures are drawn (the start-up of `occlude --all` and of notebooks)
        from nnscope.report.figures_occlusion import draw_occlusion_figures

        result["figures"] = draw_occlusion_figures({**result, "regions": regions}, Path(out))
    result["which_parts_matter"] = regions_without_masks(regions)
    result["finding"] = describe_occlusion(result)
    if options.explorer:  # what the report's explorer widget reads; the image as the test set's 0-255 pixels
        result["explorer"] = {"image": data.test_images[index], "starts": result["starts"], "patch": patch,
                              "fill": fill, "digit": digit, "probabilities": probabilities}
    return result
