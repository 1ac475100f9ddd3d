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
        return scalar_rows(self.as_dict())

    def findings(self) -> list[str]:
        """The sentences of the result, one string each."""
        return sentences(getattr(self, "finding", None))

    def _repr_html_(self) -> str:
        """A compact notebook view: the key numbers, the main figure inline, the findings."""
        try:
            picture = png_data_uri(self.figure())
        except NotImplementedError:
            picture = None
        return result_html(self.title, self.key_numbers(), picture, self.findings())


@dataclasses.dataclass
class PlainResult(Result):
    """The notebook view of a plain dict, such as a command's `--json` read back (`show(result)` wraps it)."""

    values: dict = dataclasses.field(default_factory=dict)
    name: str = "result"

    def as_dict(self) -> dict:
        return dict(self.values)

    @property
    def title(self) -> str:  # type: ignore[override]
        return self.name

    def findings(self) -> list[str]:
        return sentences(self.values.get("finding"))

    def figure(self):
        raise NotImplementedError(f"no figure is drawn for a plain {self.name}")


def show(result, title: str | None = None) -> Result:
    """What a notebook cell shows for `result`: a typed result (every `run_<analysis>` returns one) as it is, a
    plain dict (a command's `--json` read back) in the same compact view: its scalar numbers and its sentences."""
    if isinstance(result, Result):
        return result
    return PlainResult(values=dict(result), name=title or "result")


def sentences(finding) -> list[str]:
    """A result's `finding` (a sentence, a list of them or a dict of them) as a list of strings."""
    if finding is None:
        return []
    if isinstance(finding, str):
        return [finding]
    if isinstance(finding, dict):
        return [str(v) for v in finding.values()]
    return [str(s) for s in finding]


def scalar_rows(values: dict, limit: int = KEY_NUMBERS) -> list[tuple[str, Any]]:
    """The first `limit` short scalar fields of `values` as (label, value), numpy scalars included."""
    rows = []
    for name, value in values.items():
        value = value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
        if (isinstance(value, (bool, int, float, str)) and name not in ("finding", "title", "answer")
                and len(str(value)) < 60):
            rows.append((name.replace("_", " "), value))
    return rows[:limit]


FIRST_SENTENCES = 3  # shown at once; the rest behind "more", so ten results in one notebook stay readable


def result_html(title: str, rows: list[tuple[str, Any]], picture: str | None, findings: list[str]) -> str:
    """The compact HTML of one result: its title, a small table of numbers, the figure and the sentences."""
    cells = "".join(f"<tr><th style='text-align:left;padding:0 .6em 0 0;font-weight:normal'>{html.escape(str(k))}</th>"
                    f"<td style='text-align:right'>{html.escape(format_value(v))}</td></tr>" for k, v in rows)
    table = f"<table style='font-size:12px;margin:.2em 0'>{cells}</table>" if rows else ""
    image = (f"<img alt='{html.escape(title)}: main figure' style='max-width:100%;width:640px;display:block' "
             f"src='{picture}'>" if picture else "")
    said = "".join(f"<li>{html.escape(s)}</li>" for s in findings[:FIRST_SENTENCES])
    more = "".join(f"<li>{html.escape(s)}</li>" for s in findings[FIRST_SENTENCES:])
    if more:
        said += f"<details><summary>{len(findings) - FIRST_SENTENCES} more</summary><ul>{more}</ul></details>"
    return (f"<div class='nnscope-result' style='max-width:800px;font-size:13px'>"
            f"<strong>{html.escape(title)}</strong>{table}{image}"
            + (f"<ul style='margin:.2em 0'>{said}</ul>" if said else "") + "</div>")


def format_value(value: Any) -> str:
    """A number as a person reads it in a table: 4 significant digits for floats."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.4g}"
    return str(value)


def png_data_uri(figure, dpi: int = 80) -> str:
    """A matplotlib figure as a PNG data URI, closed afterwards."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
