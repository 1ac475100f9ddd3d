"""The report's stages, in the assignment's order: each runs one analysis through its entry point.

A stage is `(name, title, run function, full-report options, quick options)`: the report calls
`run(model, data, options, out=folder, progress=...)` with the model as a `LoadedModel` and the data
as `LabelledImages`, the same function the analysis's command calls, and stores the result it
returns (its `to_json()`) as the stage's section in results.json: the numbers the page shows,
`figures` (files in the output folder with alt text and caption), `finding` (sentences built from
the numbers, shown as the answer) and, for the interactive widgets, the data they embed.

Every model and data set takes the same stages: the options' defaults are the assignment's on MNIST
('0' vs '8', a '1', a '6') and the data's own classes elsewhere; --classes and larger images adjust
them (`Stage.options_for`). A model nnscope did not train gets MODEL_STAGE first instead of training.
"""

from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from nnscope.analyses import run_attack, run_featuremaps, run_filters, run_occlusion, run_shift
from nnscope.options.attack import AttackOptions
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.options.filters import FiltersOptions
from nnscope.options.longseq import SHORT_STUDY, LongSeqOptions
from nnscope.options.lstm import LSTMOptions
from nnscope.options.occlusion import SIDE, OcclusionOptions
from nnscope.options.rnn import RNNOptions
from nnscope.options.shift import ShiftOptions
from nnscope.recurrent.lstm import run_lstm
from nnscope.recurrent.rnn import run_rnn
from nnscope.report.figures_longseq import run_longseq_figures
from nnscope.report.model_section import describe_model


@dataclass(frozen=True)
class Stage:
    """One step of the report: its results.json key, its title, its entry point and its options."""

    name: str  # key in results.json 'sections'
    title: str  # shown in the progress display
    run: Callable[..., dict]  # run_<analysis>(model, data, options, out=None, progress=None) -> result
    options: Any = None  # the options of the full report (None: the analysis's defaults)
    quick: Any = None  # the options of the quick report (tests: seconds, not minutes); None: as `options`
    uses_model: bool = True  # whether its numbers depend on the checkpoint
    detach: bool = False  # runs in a second process beside the others (needs neither data nor model, one thread)
    takes_image: bool = False  # studies --image when one is given (run(..., image=...))

    def options_for(self, quick: bool, seed: int, classes: tuple[int, int] | None = None, side: int | None = None):
        """The options of this run of the report: quick or full, with the report's seed where one is used, the
        pair `classes` (--classes) compared or its first class studied, and the patch and stride of occlusion
        scaled with images whose shorter `side` is larger than MNIST's (8 x 8 at stride 1 on 224 x 224 would be
        47,089 positions)."""
        options = self.quick if quick and self.quick is not None else self.options
        names = {f.name for f in fields(options)} if options is not None else set()
        if "seed" in names:
            options = replace(options, seed=seed)
        if classes is not None and "classes" in names:
            options = replace(options, classes=tuple(classes))
        elif classes is not None and "digit" in names:
            options = replace(options, digit=classes[0])
        if side is not None and side > SIDE and "patch" in names and "stride" in names:
            factor = round(side / SIDE)
            options = replace(options, patch=options.patch * factor, stride=options.stride * factor)
        return options


MODEL_STAGE = Stage("model", "the model: layers, parameters, accuracy", run=describe_model)  # instead of training

STAGES = [
    Stage("filters", "problem 1.1: filters", run=run_filters, options=FiltersOptions()),
    # ranking and ablations over the whole test set; the quick report over its first 1000 images
    Stage("featuremaps", "problem 1.2: feature maps of two classes", run=run_featuremaps,
          options=FeatureMapsOptions(), quick=FeatureMapsOptions(limit=1000), takes_image=True),
    # the slider shows -6..+6 px; the sweep (about 100 passes) uses 2000 test images, the quick report 300
    Stage("shift", "problem 1.3: shifting an image", run=run_shift, takes_image=True,
          options=ShiftOptions(sweep_images=2000, slider=6), quick=ShiftOptions(sweep_images=300, slider=6)),
    Stage("occlusion", "problem 2.1-2.2: occlusion", run=run_occlusion, takes_image=True,  # averaged: 100, quick 10
          options=OcclusionOptions(images=100, explorer=True), quick=OcclusionOptions(images=10, explorer=True)),
    Stage("transplant", "problem 2.3: patch transplants", run=run_attack, takes_image=True,  # rate over 30, quick 5
          options=AttackOptions(images=30, every_image=False), quick=AttackOptions(images=5, every_image=False)),
    Stage("rnn", "problem 3: BPTT by hand", run=run_rnn, options=RNNOptions(), uses_model=False),
    Stage("longseq", "problem 4: long sequences", run=run_longseq_figures, options=LongSeqOptions(), quick=SHORT_STUDY,
          uses_model=False, detach=True),
    Stage("lstm", "problem 5: an LSTM cell", run=run_lstm, options=LSTMOptions(), uses_model=False),
]
