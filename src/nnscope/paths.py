"""Where nnscope reads and writes by default: its cache folder and the default checkpoint.

Kept apart from the modules that import torch, so that the command line can name these
defaults in its help without loading the libraries."""

import os
from pathlib import Path

DEFAULT_CHECKPOINT = Path("runs") / "mnist_cnn.pt"  # what `nnscope train` writes and every analysis reads


def nnscope_home() -> Path:
    """The cache folder: `$NNSCOPE_HOME`, default `~/.cache/nnscope`."""
    return Path(os.environ.get("NNSCOPE_HOME") or Path.home() / ".cache" / "nnscope")
