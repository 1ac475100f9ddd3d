"""The report's stages, in the assignment's order: each runs one analysis through its entry point.

A stage is `(name, title, run function, full-report options, quick options)`: the report calls
`run(model, data, options, out=folder, progress=...)` with the model as a `LoadedModel` and the data
as `LabelledImages`, the same function the analysis's command calls, and stores the result it
returns (its `to_json()`) as the stage's section in results.json: the numbers the page shows,
`figures` (files in the output folder with alt text and caption), `finding` (sentences built from
the numbers, shown as the answer) and, for the interactive widgets, the data they embed.
"""

from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from nnscope.analyses import run_attack, run_featuremaps, run_filters, run_occlusion, run_shift
from nnscope.options.attack import AttackOptions
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.options.filters import FiltersOptions
from nnscope.options.longseq import SHORT_STUDY, LongSeqOptions
from nnscope.options.lstm import LSTMOptions
from nnscope.options.occlusion import OcclusionOptions
from nnscope.options.rnn import RNNOptions
from nnscope.options.shift import ShiftOptions
from nnscope.recurrent.lstm import run_lstm
from nnscope.recurrent.rnn import run_rnn
from nnscope.report.figures_longseq import run_longseq_figures


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

    def options_for(self, quick: bool, seed: int):
        """The options of this run of the report: quick or full, with the report's seed where one is used."""
        options = self.quick if quick and self.quick is not None else self.options
        if options is not None and "seed" in {f.name for f in fields(options)}:
            options = replace(options, seed=seed)
        return options


STAGES = [
    Stage("filters", "problem 1.1: filters", run=run_filters, options=FiltersOptions()),
    # ranking and ablations over the whole test set; the quick report over its first 1000 images
    Stage("featuremaps", "problem 1.2: feature maps of a 0 and an 8", run=run_featuremaps,
          options=FeatureMapsOptions(), quick=FeatureMapsOptions(limit=1000)),
    # the slider shows -6..+6 px; the sweep (about 100 passes) uses 2000 test images, the quick report 300
    Stage("shift", "problem 1.3: shifting a 1", run=run_shift,
          options=ShiftOptions(sweep_images=2000, slider=6), quick=ShiftOptions(sweep_images=300, slider=6)),
    Stage("occlusion", "problem 2.1-2.2: occlusion of a 6", run=run_occlusion,  # the 6s averaged: 100, quick 10
          options=OcclusionOptions(images=100, explorer=True), quick=OcclusionOptions(images=10, explorer=True)),
    Stage("transplant", "problem 2.3: patch transplants", run=run_attack,  # success rate over 30 6s, quick 5
          options=AttackOptions(images=30, every_image=False), quick=AttackOptions(images=5, every_image=False)),
    Stage("rnn", "problem 3: BPTT by hand", run=run_rnn, options=RNNOptions(), uses_model=False),
    Stage("longseq", "problem 4: long sequences", run=run_longseq_figures, options=LongSeqOptions(), quick=SHORT_STUDY,
          uses_model=False, detach=True),
    Stage("lstm", "problem 5: an LSTM cell", run=run_lstm, options=LSTMOptions(), uses_model=False),
]
