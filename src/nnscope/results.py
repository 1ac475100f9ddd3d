"""What every analysis returns: a small typed result with its numbers, figures, findings and JSON.

Each `run_<analysis>` returns a dataclass that subclasses `Result`. Its fields are the numbers (numpy
arrays where they are maps), `figures` (records of the files drawn into `out`) and `finding` (the
sentences). `to_json()` gives the command's JSON; `figure()` draws the main figure with matplotlib
through the drawing layer (`nnscope.report.drawing`), which the analyses themselves never import;
`_repr_html_()` shows the result in a notebook cell. Reading a result like the dict it used to be
(`result["finding"]`) still works, so callers move to attributes at their own pace.
"""

import base64
import dataclasses
import html
import io
from typing import Any, ClassVar

KEY_NUMBERS = 8  # scalar fields shown in the notebook table when a result does not choose its own


@dataclasses.dataclass
class Result:
    """The base of every analysis result: dict-style reading, `to_json()`, `figure()` and `_repr_html_()`."""

    title: ClassVar[str] = "result"  # a few words naming the analysis, the heading of the notebook view

    def to_json(self) -> dict:
        """The command's JSON document (plain types; non-finite numbers as null)."""
        from nnscope.fileio import to_jsonable  # numpy: only when a result is written out

        return to_jsonable(self.as_dict())

    def as_dict(self) -> dict:
        """The fields as a shallow dict of their Python values (arrays stay arrays); None-valued optional
        fields named in `omitted_when_none` are left out, as the old dicts left them out."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in values.items() if not (v is None and k in self.omitted_when_none())}

    def omitted_when_none(self) -> tuple[str, ...]:
        """Fields that do not appear in the JSON at all when they are None (override where the keys vary)."""
        return ()

    # dict-style reading: result["key"], "key" in result, result.get("key"), result.keys()
    def __getitem__(self, key: str) -> Any:
        values = self.as_dict()
        if key not in values:
            raise KeyError(key)
        return values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()

    def get(self, key: str, default: Any = None) -> Any:
        """The field `key`, or `default` when the result has no such field."""
        return self.as_dict().get(key, default)

    def keys(self):
        """The JSON keys of this result."""
        return self.as_dict().keys()

    def figure(self):
        """The main figure as a matplotlib Figure, for the user to restyle or save."""
        from nnscope.report.drawing import draw_figure  # the drawing layer imports matplotlib: only on demand

        return draw_figure(self)

    def key_numbers(self) -> list[tuple[str, Any]]:
        """(label, value) rows of the notebook table: by default the first scalar fields."""
        rows = []
        for name, value in self.as_dict().items():
            if isinstance(value, (bool, int, float, str)) and name not in ("finding", "title") and len(str(value)) < 60:
                rows.append((name.replace("_", " "), value))
        return rows[:KEY_NUMBERS]

    def findings(self) -> list[str]:
        """The sentences of the result, one string each."""
        finding = getattr(self, "finding", None)
        if finding is None:
            return []
        if isinstance(finding, str):
            return [finding]
        if isinstance(finding, dict):
            return [str(v) for v in finding.values()]
        return [str(s) for s in finding]

    def _repr_html_(self) -> str:
        """A compact notebook view: the key numbers, the main figure inline, the findings."""
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(format_value(v))}</td></tr>" for k, v in self.key_numbers())
        picture = ""
        try:
            figure = self.figure()
        except NotImplementedError:
            figure = None
        if figure is not None:
            picture = f"<img alt='{html.escape(self.title)}' style='max-width:100%' src='{png_data_uri(figure)}'>"
        sentences = "".join(f"<p>{html.escape(s)}</p>" for s in self.findings())
        return (f"<div class='nnscope-result'><strong>{html.escape(self.title)}</strong>"
                f"<table>{rows}</table>{picture}{sentences}</div>")


def format_value(value: Any) -> str:
    """A number as a person reads it in a table: 4 significant digits for floats."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def png_data_uri(figure, dpi: int = 80) -> str:
    """A matplotlib figure as a PNG data URI, closed afterwards."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
