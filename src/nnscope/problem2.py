"""Problem 2's analyses with their figures: `run_occlusion` and `run_attack`, the entry points `nnscope occlude`,
`nnscope attack`, the report and notebooks share, for any loaded model (nnscope.models.LoadedModel) and any
labelled data (nnscope.labelled_data.LabelledImages; the MNIST test set through `labelled_test_set`).

The analyses (nnscope.vision) return data; this layer draws their figures into `out` when it is given.
"""

from pathlib import Path

import numpy as np

from nnscope.labelled_data import LabelledImages
from nnscope.options.attack import AttackOptions
from nnscope.options.occlusion import OcclusionOptions
from nnscope.progress import Progress
from nnscope.vision.attack import AttackResult, attack_analysis
from nnscope.vision.occlusion.analysis import OcclusionResult, occlusion_analysis
from nnscope.vision.occlusion.test_set import OcclusionTestSetResult


def run_occlusion(model, data: LabelledImages | None, options: OcclusionOptions = OcclusionOptions(),
                  out: Path | str | None = None, progress: Progress | None = None, image: np.ndarray | None = None,
                  image_name: str = "--image") -> OcclusionResult | OcclusionTestSetResult:
    """occlusion_analysis of `image` (C, H, W), or of the image of `data` the options pick; with `out`, the
    figures drawn there (options.test_set: the .npz goes to out/occlusion_all.npz unless options.npz)."""
    if options.test_set and options.npz is None and out is not None:
        from dataclasses import replace

        options = replace(options, npz=str(Path(out) / "occlusion_all.npz"))
    result = occlusion_analysis(model, data, options, progress, image, image_name)
    if out is not None and isinstance(result, OcclusionResult):
        from nnscope.report.figures_occlusion import draw_occlusion_figures  # matplotlib: only when drawing

        result.figures = draw_occlusion_figures(result, Path(out))
    return result


def run_attack(model, data: LabelledImages | None, options: AttackOptions = AttackOptions(),
               out: Path | str | None = None, progress: Progress | None = None, image: np.ndarray | None = None,
               image_name: str = "--image") -> AttackResult:
    """attack_analysis of `image` (C, H, W), or of the image of `data` the options pick; with `out`, the
    figure of the examples drawn there."""
    result = attack_analysis(model, data, options, progress, image, image_name)
    if out is not None:
        from nnscope.report.figures_attack import draw_attack_figures  # matplotlib: only when drawing

        result.figures = draw_attack_figures(result, Path(out))
    return result
