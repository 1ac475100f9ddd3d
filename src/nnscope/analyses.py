"""The entry points of the analyses: `run_<analysis>(model, data, options, out=None, progress=None)`.

Each measures with its module of `nnscope.vision` and, given a folder `out`, draws the result's figures
there through the drawing layer (`nnscope.report.drawing`), which the analyses never import. The
command line, the report, the live page and notebooks call these same functions, for every model
(nnscope's CNN is one `LoadedModel` among any) and every labelled data set (MNIST's test set is one).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np

from nnscope.labelled_data import LabelledImages
from nnscope.models import LoadedModel
from nnscope.options.attack import AttackOptions
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.options.filters import FiltersOptions
from nnscope.options.occlusion import OcclusionOptions
from nnscope.options.shift import ShiftOptions
from nnscope.progress import Progress
from nnscope.report.drawing import save_figures
from nnscope.results import Result
from nnscope.vision.attack import AttackResult, attack_analysis
from nnscope.vision.featuremaps import FeatureMapsResult, measure_featuremaps
from nnscope.vision.filters import FiltersResult, measure_filters
from nnscope.vision.occlusion.analysis import OcclusionResult, occlusion_analysis
from nnscope.vision.occlusion.test_set import OcclusionTestSetResult
from nnscope.vision.shift import ShiftResult, measure_shift


def drawn(result: Result, out: str | Path | None) -> Result:
    """`result` with its figures drawn into `out` when a folder is given: the one tail of every entry point."""
    if out is not None:
        save_figures(result, out)
    return result


def run_filters(model: LoadedModel, data: LabelledImages | None = None, options: FiltersOptions = FiltersOptions(),
                out: str | Path | None = None, progress: Progress | None = None) -> FiltersResult:
    """Problem 1.1: each conv layer's statistics and, with `out`, OUT/filters_<layer>.png; `data` is not used."""
    return drawn(measure_filters(model, data, options, progress), out)


def run_featuremaps(model: LoadedModel, data: LabelledImages | None, options: FeatureMapsOptions = FeatureMapsOptions(),
                    out: str | Path | None = None, progress: Progress | None = None,
                    image: np.ndarray | None = None) -> FeatureMapsResult:
    """Problem 1.2: the maps of one image of each class of the pair (or of `image`), with `data` the channel
    ranking and the zero and mean ablations, and with `out` OUT/featuremaps_<layer>.png, _top.png, _ablation.png."""
    return drawn(measure_featuremaps(model, data, options, image, progress), out)


def run_shift(model: LoadedModel, data: LabelledImages | None, options: ShiftOptions = ShiftOptions(),
              out: str | Path | None = None, progress: Progress | None = None,
              image: np.ndarray | None = None) -> ShiftResult:
    """Problem 1.3: the example (`image` (C, H, W) in [0, 1], else an image of class `options.digit` of `data`)
    shifted left and right, the sweep over `data` and, with `out`, OUT/shift_example.png, shift_sweep.png and
    shift_per_digit.png."""
    return drawn(measure_shift(model, data, options, image, progress), out)


def run_occlusion(model: LoadedModel, data: LabelledImages | None, options: OcclusionOptions = OcclusionOptions(),
                  out: str | Path | None = None, progress: Progress | None = None, image: np.ndarray | None = None,
                  image_name: str = "--image") -> OcclusionResult | OcclusionTestSetResult:
    """Problem 2.1-2.2: the occlusion maps of `image` (C, H, W), or of the image of `data` the options pick, which
    parts matter and the aggregate, with `out` OUT/occlusion_maps.png, _parts.png, _aggregate.png; options.test_set:
    the maps of every image into one .npz (out/occlusion_all.npz unless options.npz), no figures."""
    if options.test_set and options.npz is None and out is not None:
        options = replace(options, npz=str(Path(out) / "occlusion_all.npz"))
    result = occlusion_analysis(model, data, options, progress, image, image_name)
    return result if options.test_set else drawn(result, out)


def run_attack(model: LoadedModel, data: LabelledImages | None, options: AttackOptions = AttackOptions(),
               out: str | Path | None = None, progress: Progress | None = None, image: np.ndarray | None = None,
               image_name: str = "--image") -> AttackResult:
    """Problem 2.3: patches of `data`'s other classes pasted onto `image` (C, H, W), or onto the image of `data`
    the options pick, every success verified, the success rate and, with `out`, OUT/transplant_examples.png."""
    return drawn(attack_analysis(model, data, options, progress, image, image_name), out)
