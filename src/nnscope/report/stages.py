"""The report's stages, in the assignment's order: each runs one analysis and returns its section.

A section is a plain dict: the numbers the page shows, `figures` (files in the output folder
with alt text and caption), `answer` (sentences built from the numbers) and, for the
interactive widgets, `widget` data embedded in the page.
"""

import importlib.util
from dataclasses import dataclass
from typing import Callable

from nnscope.report.context import Context, unavailable  # noqa: F401 (re-exported for build)


@dataclass(frozen=True)
class Stage:
    """One step of the report: its results.json key, its title and the adapter function that computes it."""

    name: str  # key in results.json 'sections'
    title: str  # shown in the progress display
    adapter: str  # 'module:function' in nnscope.report, (Context) -> section dict
    needs: tuple[str, ...] = ()  # 'module' or 'module:function' it calls; one missing -> 'not available'
    uses_model: bool = True  # whether its numbers depend on the checkpoint
    detach: bool = False  # runs in a second process beside the others (needs neither data nor model, one thread)

    def missing_modules(self) -> list[str]:
        """The needed modules and functions (the adapter's included) that are not installed."""
        missing = []
        for need in (*self.needs, f"nnscope.report.{self.adapter}"):
            module, _, attribute = need.partition(":")
            if importlib.util.find_spec(module) is None:
                missing.append(module)
            elif attribute and not hasattr(importlib.import_module(module), attribute):
                missing.append(need)
        return missing

    def run(self, ctx: Context) -> dict:
        """Compute the section."""
        module, _, function = self.adapter.partition(":")
        return getattr(importlib.import_module(f"nnscope.report.{module}"), function)(ctx)


VISION, RECURRENT = "sections_vision", "sections_recurrent"
STAGES = [
    Stage("filters", "problem 1.1: filters", f"{VISION}:filters_section",
          ("nnscope.cli.filters", "nnscope.vision.filters", "nnscope.report.figures_problem1")),
    Stage("featuremaps", "problem 1.2: feature maps of a 0 and an 8", f"{VISION}:featuremaps_section",
          ("nnscope.cli.featuremaps", "nnscope.vision.featuremaps", "nnscope.report.figures_problem1")),
    Stage("shift", "problem 1.3: shifting a 1", f"{VISION}:shift_section",
          ("nnscope.cli.shift", "nnscope.vision.shift", "nnscope.report.figures_problem1")),
    Stage("occlusion", "problem 2.1-2.2: occlusion of a 6", f"{VISION}:occlusion_section",
          ("nnscope.cli.occlude", "nnscope.vision.occlusion", "nnscope.report.figures_occlusion")),
    Stage("transplant", "problem 2.3: patch transplants", f"{VISION}:transplant_section",
          ("nnscope.cli.attack", "nnscope.vision.transplant", "nnscope.report.figures_occlusion")),
    Stage("rnn", "problem 3: BPTT by hand", f"{RECURRENT}:rnn_section", ("nnscope.cli.rnn", "nnscope.recurrent.rnn"),
          uses_model=False),
    Stage("longseq", "problem 4: long sequences", f"{RECURRENT}:longseq_section",
          ("nnscope.cli.longseq", "nnscope.recurrent.longseq", "nnscope.report.figures_longseq"), uses_model=False,
          detach=True),
    Stage("lstm", "problem 5: an LSTM cell", f"{RECURRENT}:lstm_section", ("nnscope.cli.lstm", "nnscope.recurrent.lstm"),
          uses_model=False),
]
