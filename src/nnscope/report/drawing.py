"""`result.figure()`: each result type's main figure, registered here by the figure module of its analysis.

A figure module registers a function that takes the result and returns a matplotlib Figure, and
names itself in FIGURE_MODULES:

    @drawing_of.register
    def _(result: FiltersResult):
        return filters_figure(...)

The analyses never import this layer; `nnscope.results.Result.figure()` reaches it on demand.
"""

import functools
import importlib

# the modules that register a drawing for some result type, imported when the first figure is asked for
FIGURE_MODULES: tuple[str, ...] = ("nnscope.report.figures_occlusion", "nnscope.report.figures_attack")


@functools.singledispatch
def drawing_of(result):
    """The registered drawing of `result`'s type; NotImplementedError for a type without one."""
    raise NotImplementedError(f"no figure is drawn for a {type(result).__name__}")


def draw_figure(result):
    """The main matplotlib Figure of `result`."""
    for name in FIGURE_MODULES:
        importlib.import_module(name)
    return drawing_of(result)
