"""The entry points of the analyses: `run_<analysis>(model, data, options, out=None, progress=None)`.

Each measures with its module of `nnscope.vision` and, given a folder `out`, draws the result's figures
there through the drawing layer (`nnscope.report.drawing`), which the analyses never import. The
command line, the report, the live page and notebooks call these same functions, for every model
(nnscope's CNN is one `LoadedModel` among any) and every labelled data set (MNIST's test set is one).
"""

from pathlib import Path

import numpy as np

from nnscope.labelled_data import LabelledImages
from nnscope.models import LoadedModel
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.options.filters import FiltersOptions
from nnscope.options.shift import ShiftOptions
from nnscope.progress import Progress
from nnscope.report.drawing import save_figures
from nnscope.vision.featuremaps import FeatureMapsResult, measure_featuremaps
from nnscope.vision.filters import FiltersResult, measure_filters
from nnscope.vision.shift import ShiftResult, measure_shift


def run_filters(model: LoadedModel, data: LabelledImages | None = None, options: FiltersOptions = FiltersOptions(),
                out: str | Path | None = None, progress: Progress | None = None) -> FiltersResult:
    """Problem 1.1: each conv layer's statistics and, with `out`, OUT/filters_<layer>.png; `data` is not used."""
    result = measure_filters(model, data, options, progress)
    if out is not None:
        save_figures(result, out)
    return result


def run_featuremaps(model: LoadedModel, data: LabelledImages | None, options: FeatureMapsOptions = FeatureMapsOptions(),
                    out: str | Path | None = None, progress: Progress | None = None,
                    image: np.ndarray | None = None) -> FeatureMapsResult:
    """Problem 1.2: the maps of one image of each class of the pair (or of `image`), with `data` the channel
    ranking and the zero and mean ablations, and with `out` OUT/featuremaps_<layer>.png, _top.png, _ablation.png."""
    result = measure_featuremaps(model, data, options, image, progress)
    if out is not None:
        save_figures(result, out)
    return result


def run_shift(model: LoadedModel, data: LabelledImages | None, options: ShiftOptions = ShiftOptions(),
              out: str | Path | None = None, progress: Progress | None = None,
              image: np.ndarray | None = None) -> ShiftResult:
    """Problem 1.3: the example (`image` (C, H, W) in [0, 1], else an image of class `options.digit` of `data`)
    shifted left and right, the sweep over `data` and, with `out`, OUT/shift_example.png, shift_sweep.png and
    shift_per_digit.png."""
    result = measure_shift(model, data, options, image, progress)
    if out is not None:
        save_figures(result, out)
    return result
