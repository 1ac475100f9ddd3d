"""nnscope in a notebook: live widgets on anywidget (Jupyter, JupyterLab, Colab, VS Code, marimo; no server,
no extension, no network).

    Draw(model)                  draw a digit (or any model's input) and see the probabilities, the feature
                                 maps, the occlusion maps and the shift strip, computed in the kernel by the
                                 function behind `nnscope serve`'s POST /api/analyze (the same JSON)
    OcclusionExplorer(result)    the report's occlusion explorer on an occlusion result
    ShiftSlider(result)          the report's shift slider on a shift result run with a slider
    FeatureMapBrowser(result)    the report's feature-map browser on a feature-maps result
    RecurrentExplorer(result)    the unrolled graph of Problem 3 or 5 (a run_rnn or run_lstm result)

Their front end is one ES module: the shared widgets of the report and the live page
(nnscope/frontend/widgets.js) with the notebook's glue (notebook.js). Every widget's state is saved with
the notebook, so a saved widget shows its last state without a kernel; where widgets cannot run (a
notebook viewer, nbconvert without widget state) the static HTML of `_repr_html_` shows instead.
"""

import html

import anywidget
import numpy as np
import traitlets

from nnscope.errors import NnscopeError
from nnscope.fileio import to_jsonable
from nnscope.frontend import source
from nnscope.widgets.data import browser_data, explorer_data, graph_data, slider_data

__all__ = ["Draw", "FeatureMapBrowser", "OcclusionExplorer", "RecurrentExplorer", "ShiftSlider"]


def module_source() -> str:
    """The widgets' ES module: the MNIST preprocessing of a drawing, the shared widgets, the notebook's glue."""
    from importlib import resources

    preprocessing = resources.files("nnscope.serve").joinpath("templates", "serve-input.js").read_text(encoding="utf-8")
    return "\n".join([preprocessing, report_template("bptt-graph.js"), source("widgets.js"), source("notebook.js")])


def report_template(name: str) -> str:
    """A file of the report's templates: the unrolled graph's script and styles, shared with the report."""
    from importlib import resources

    return resources.files("nnscope.report").joinpath("templates", name).read_text(encoding="utf-8")


class NnscopeWidget(anywidget.AnyWidget):
    """The base of nnscope's widgets: one ES module and one style sheet for all, `kind` picks the widget."""

    _esm = traitlets.Unicode(module_source()).tag(sync=True)
    _css = traitlets.Unicode(source("widgets.css") + report_template("bptt-graph.css")).tag(sync=True)
    kind = traitlets.Unicode("").tag(sync=True)
    data = traitlets.Dict({}).tag(sync=True)
    static_html = ""  # what shows where widgets cannot run

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self.static_html:
            data["text/html"] = self.static_html
        return bundle


def static_view(result) -> str:
    """The result's static notebook view (nnscope.results.show): its numbers, figure and sentences."""
    from nnscope.results import show

    return show(result)._repr_html_()


class OcclusionExplorer(NnscopeWidget):
    """The occlusion explorer of an occlusion result: point at the image (or use the arrow keys) to place the
    patch and read the ten probabilities there; three maps over every position (P(class), highest, label)."""

    def __init__(self, result, **kwargs):
        super().__init__(kind="occlusion", data=to_jsonable(explorer_data(result)), **kwargs)
        self.static_html = static_view(result)


class ShiftSlider(NnscopeWidget):
    """The shift slider of a shift result run with ShiftOptions(slider=6): the image moved left and right and
    the model's probabilities for each shift."""

    def __init__(self, result, **kwargs):
        super().__init__(kind="shift", data=to_jsonable(slider_data(result)), **kwargs)
        self.static_html = static_view(result)


class FeatureMapBrowser(NnscopeWidget):
    """The feature-map browser of a feature-maps result: the two examples' maps and their difference, one
    channel at a time in the order of the channel ranking."""

    def __init__(self, result, **kwargs):
        super().__init__(kind="fmaps", data=to_jsonable(browser_data(result)), **kwargs)
        self.static_html = static_view(result)


class RecurrentExplorer(NnscopeWidget):
    """The unrolled graph of Problem 3 (a run_rnn result) or Problem 5 (a run_lstm result), as in the report and
    the live page's /rnn: every value of the forward pass and every gradient of BPTT, the parameters editable,
    recomputed in the browser."""

    def __init__(self, result, **kwargs):
        super().__init__(kind="bptt", data=to_jsonable(graph_data(result)), **kwargs)
        self.static_html = static_view(result)


class Draw(NnscopeWidget):
    """Draw an input for `model` (any model nnscope loads: nnscope.models.load_model, an nnscope checkpoint
    included) and see what it does with it,
    computed in the kernel by the function behind `nnscope serve`'s POST /api/analyze. `analyze(image)` runs the
    same computation from Python; `result` holds the last answer (the API's JSON)."""

    config = traitlets.Dict({}).tag(sync=True)
    request = traitlets.Dict({}).tag(sync=True)
    result = traitlets.Dict({}).tag(sync=True)

    def __init__(self, model, **kwargs):
        from nnscope.serve.app import analyzer  # torch and the models: only when a Draw is made

        description, self._checked, self._compute, _, _ = analyzer(model)
        super().__init__(kind="draw", config=to_jsonable(description), **kwargs)

    def analyze(self, image, **settings) -> dict:
        """The answer for `image` (the model's C x H x W, values in [0, 1]) with the patch, stride and fill of
        `settings`: the JSON POST /api/analyze answers with."""
        payload = {"image": np.asarray(image, np.float32).tolist(), **settings}
        return to_jsonable(self._compute(self._checked(payload)))

    @traitlets.observe("request")
    def _answer(self, change) -> None:
        request = dict(change["new"])
        if not request:
            return
        sequence = request.pop("sequence", 0)
        try:
            answer = self.analyze(request.pop("image"), **request)
        except NnscopeError as error:  # the one line the API would answer with
            answer = {**self.result, "error": str(error)}  # the last answer stays on show
        self.result = {**answer, "sequence": sequence}

    @property
    def static_html(self) -> str:
        """The last answer in words, where widgets cannot run."""
        if not self.result.get("probabilities"):
            return "<p>nnscope Draw: run the notebook to draw.</p>"
        classes, k = self.config["classes"], self.result["prediction"]
        return (f"<p>nnscope Draw: predicted {html.escape(classes[k])} "
                f"(p = {self.result['probabilities'][k]:.4f}) for the last drawing.</p>")
