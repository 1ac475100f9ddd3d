"""The front end's shared ES module: the widgets the report inlines, the live page serves and the notebook
widgets run (one source, widgets.js)."""

from importlib import resources


def source(name: str = "widgets.js") -> str:
    """The text of one front-end file of this package."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
