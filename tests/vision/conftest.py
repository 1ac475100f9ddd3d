"""What a figure shows, captured as it is saved: panels, colour bars, titles (figure tests check these)."""

import pytest


def described(fig) -> dict:
    """The panels of a matplotlib figure, its colour bars, titles and size in pixels at the saving dpi."""
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    return {"panels": len(panels), "colorbars": len(fig.axes) - len(panels),
            "titles": [ax.get_title() for ax in panels], "images": sum(len(ax.images) for ax in panels),
            "texts": sum(len(ax.texts) for ax in panels), "suptitle": fig._suptitle.get_text() if fig._suptitle else ""}


@pytest.fixture
def saved_figures(monkeypatch):
    """{file name: `described` figure} of every figure the Problem 1 figure modules save during the test."""
    from nnscope.report import figures_featuremaps, figures_filters, figures_shift, plotting

    saved = {}

    def save_and_describe(fig, path, dpi=110):
        from pathlib import Path

        saved[Path(path).name] = described(fig)
        return plotting.save_figure(fig, path, dpi)

    for module in (figures_filters, figures_featuremaps, figures_shift):
        monkeypatch.setattr(module, "save_figure", save_and_describe)
    return saved
