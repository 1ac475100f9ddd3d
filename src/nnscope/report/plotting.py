"""What every figure module shares: the headless backend, the palettes, and atomic saving."""

import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: draw to files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from nnscope.fileio import atomic_write_bytes  # noqa: E402

DIVERGING = "RdBu_r"  # signed values: blue < 0 < red, always with limits symmetric about zero
SEQUENTIAL = "viridis"  # values on a fixed 0..1 scale
DIGIT_COLOURS = ListedColormap(plt.get_cmap("tab10").colors, name="digits")  # one colour per class 0-9


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save `fig` as PNG to `path` atomically and close it."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a class name in a script the font lacks is drawn as boxes, not a warning
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def symmetric_limit(*arrays) -> float:
    """The largest absolute value over `arrays`, so a diverging scale is centred at zero."""
    return max(float(abs(a).max()) for a in arrays) or 1.0
