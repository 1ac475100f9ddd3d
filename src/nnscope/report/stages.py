"""The report's stages, in the assignment's order: each runs one analysis through its entry point.

A stage is `(name, title, run function, full-report options, quick options)`: the report calls
`run(model, data, options, out=folder, progress=...)`, the same function the analysis's command
calls, and stores the result it returns as the stage's section in results.json. A section is a
plain dict: the numbers the page shows, `figures` (files in the output folder with alt text and
caption), `finding` (sentences built from the numbers, shown as the answer) and, for the
interactive widgets, the data they embed.
"""

from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from nnscope.options.attack import AttackOptions
from nnscope.options.occlusion import OcclusionOptions
from nnscope.report import sections_recurrent, sections_vision
from nnscope.report.context import Context, unavailable  # noqa: F401 (re-exported for build)
from nnscope.vision.attack import run_attack
from nnscope.vision.occlusion import run_occlusion


@dataclass(frozen=True)
class Stage:
    """One step of the report: its results.json key, its title, its entry point and its options."""

    name: str  # key in results.json 'sections'
    title: str  # shown in the progress display
    run: Callable[..., dict] | None = None  # run_<analysis>(model, data, options, out=None, progress=None)
    options: Any = None  # the options of the full report (None: the analysis's defaults)
    quick: Any = None  # the options of the quick report (tests: seconds, not minutes); None: as `options`
    uses_model: bool = True  # whether its numbers depend on the checkpoint
    detach: bool = False  # runs in a second process beside the others (needs neither data nor model, one thread)
    adapter: Callable[[Context], dict] | None = None  # TRANSITIONAL: (Context) -> section, until `run` is set

    def options_for(self, quick: bool, seed: int):
        """The options of this run of the report: quick or full, with the report's seed where one is used."""
        options = self.quick if quick and self.quick is not None else self.options
        if options is not None and "seed" in {f.name for f in fields(options)}:
            options = replace(options, seed=seed)
        return options


VISION, RECURRENT = sections_vision, sections_recurrent
STAGES = [
    Stage("filters", "problem 1.1: filters", adapter=VISION.filters_section),
    Stage("featuremaps", "problem 1.2: feature maps of a 0 and an 8", adapter=VISION.featuremaps_section),
    Stage("shift", "problem 1.3: shifting a 1", adapter=VISION.shift_section),
    Stage("occlusion", "problem 2.1-2.2: occlusion of a 6", run=run_occlusion,  # the 6s averaged: 100, quick 10
          options=OcclusionOptions(images=100, explorer=True), quick=OcclusionOptions(images=10, explorer=True)),
    Stage("transplant", "problem 2.3: patch transplants", run=run_attack,  # success rate over 30 6s, quick 5
          options=AttackOptions(images=30, every_image=False), quick=AttackOptions(images=5, every_image=False)),
    Stage("rnn", "problem 3: BPTT by hand", adapter=RECURRENT.rnn_section, uses_model=False),
    Stage("longseq", "problem 4: long sequences", adapter=RECURRENT.longseq_section, uses_model=False, detach=True),
    Stage("lstm", "problem 5: an LSTM cell", adapter=RECURRENT.lstm_section, uses_model=False),
]
