"""The drawing layer: each result type's figures, registered here by the figure module of its analysis.

A figure module registers, for its result type, the main figure (a matplotlib Figure, for
`result.figure()` in a notebook) and the files it writes into an output folder (for the command
line, the report and the live page), and names itself in FIGURE_MODULES:

    @drawing_of.register
    def _(result: FiltersResult):
        return filters_figure(...)

    @saved_figures.register
    def _(result: FiltersResult, out: Path) -> list[dict]:
        return [figure(out, save_figure(...), alt, caption), ...]

The analyses never import this layer; `nnscope.results.Result.figure()` and `save_figures` reach it.
"""

import functools
import importlib
from pathlib import Path

# the modules that register a drawing for some result type, imported when the first figure is asked for
FIGURE_MODULES: tuple[str, ...] = ("nnscope.report.figures_filters", "nnscope.report.figures_featuremaps",
                                   "nnscope.report.figures_shift", "nnscope.report.figures_occlusion",
                                   "nnscope.report.figures_attack", "nnscope.report.figures_recurrent",
                                   "nnscope.report.figures_longseq", "nnscope.report.figures_layers")


@functools.singledispatch
def drawing_of(result):
    """The registered drawing of `result`'s type; NotImplementedError for a type without one."""
    raise NotImplementedError(f"no figure is drawn for a {type(result).__name__}")


@functools.singledispatch
def saved_figures(result, out: Path) -> list[dict]:
    """Draw every figure of `result` into the folder `out`; their records (file, alt, caption)."""
    raise NotImplementedError(f"no figures are saved for a {type(result).__name__}")


def registered() -> None:
    """Import the figure modules, which register their drawings."""
    for name in FIGURE_MODULES:
        importlib.import_module(name)


def draw_figure(result):
    """The main matplotlib Figure of `result`."""
    registered()
    return drawing_of(result)


def save_figures(result, out: str | Path) -> list[dict]:
    """Draw the figures of `result` into `out`, set them as `result.figures` and return their records."""
    registered()
    result.figures = saved_figures(result, Path(out))
    return result.figures
