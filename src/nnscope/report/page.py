"""Render results.json into one self-contained HTML page: images as data: URIs, CSS and JS inline.

Every number on the page comes from results.json through `num(key, fmt)`, which writes
`<span class="num" data-key="sections.training.test_accuracy" data-fmt="pct2">99.31%</span>`,
so a test can check each shown number against the file.
"""

import base64
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from nnscope.fileio import atomic_write_text, dumps_json
from nnscope.frontend import source as frontend_source

# How a number is shown: the test of the page applies the same functions.
FORMATS = {
    "pct1": lambda v: f"{100 * v:.1f}%",
    "pct2": lambda v: f"{100 * v:.2f}%",
    "int": lambda v: f"{int(v):,}",
    "f1": lambda v: f"{v:.1f}",
    "f2": lambda v: f"{v:.2f}",
    "f3": lambda v: f"{v:.3f}",
    "f4": lambda v: f"{v:.4f}",
    "f6": lambda v: f"{v:.6f}",
    "f8": lambda v: f"{v:.8f}",
    "f9": lambda v: f"{v:.9f}",
    "f11": lambda v: f"{v:.11f}",
    "e2": lambda v: f"{v:.2e}",
    "e3": lambda v: f"{v:.3e}",
    "g4": lambda v: f"{v:.4g}",
    "g8": lambda v: f"{v + 0.0:.8g}",  # + 0.0 turns -0.0 into 0.0
    "g10": lambda v: f"{v + 0.0:.10g}",
    "s1": lambda v: f"{v:.1f} s",
    "x1": lambda v: f"{v:.1f}x",
    "str": str,
}


def lookup(results: dict, key: str):
    """The value at a dotted path ('sections.shift.left.prediction', list indices as numbers); a name that
    holds dots itself (a layer 'layer1.conv_a') is matched whole, the longest name first."""
    value, parts = results, key.split(".")
    while parts:
        if isinstance(value, list):
            value, parts = value[int(parts[0])], parts[1:]
            continue
        taken = next((n for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in value), None)
        if taken is None:
            raise KeyError(key)
        value, parts = value[".".join(parts[:taken])], parts[taken:]
    return value


def format_number(value, fmt: str) -> str:
    """`value` as the page shows it in format `fmt` (see FORMATS)."""
    return FORMATS[fmt](value)


def data_uri(path: Path) -> str:
    """The PNG file at `path` as a data: URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def embedded_json(value) -> Markup:
    """JSON for a <script type="application/json"> block ('</' escaped so it cannot close the tag)."""
    return Markup(dumps_json(value).replace("</", "<\\/"))


def template_text(name: str) -> str:
    """A file of the templates folder (the inline CSS and JS)."""
    return resources.files("nnscope.report").joinpath("templates", name).read_text(encoding="utf-8")


def make_environment(results: dict, out: Path) -> Environment:
    """The Jinja2 environment with the page's helpers: num, value, figure_src, json."""
    env = Environment(loader=PackageLoader("nnscope.report", "templates"), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def num(key: str, fmt: str = "g4") -> Markup:
        text = format_number(lookup(results, key), fmt)
        return Markup(f'<span class="num" data-key="{escape(key)}" data-fmt="{escape(fmt)}">{escape(text)}</span>')

    env.globals.update(
        num=num,
        value=lambda key: lookup(results, key),
        figure_src=lambda record: data_uri(out / record["file"]),
        json=embedded_json,
        inline=lambda name: Markup(template_text(name)),
        shared_widgets=Markup(frontend_source("widgets.js")),  # the widgets report.js runs
    )
    env.filters["fmt"] = format_number
    return env


def render_page(results: dict, out: str | Path) -> Path:
    """Write out/index.html from `results` (the content of results.json) and the figures in `out`."""
    out = Path(out)
    html = make_environment(results, out).get_template("index.html.j2").render(r=results, s=results["sections"])
    return atomic_write_text(out / "index.html", html)
