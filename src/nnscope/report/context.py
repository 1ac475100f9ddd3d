"""What a report stage gets (`Context`) and the record of a section that was not computed."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnscope.labelled_data import LabelledImages
from nnscope.models import LoadedModel


@dataclass(frozen=True)
class Context:
    """What every stage gets: where to draw, the data, the model, the seed."""

    out: Path  # the report folder; figures are written here
    data: LabelledImages | None  # the labelled data set (the MNIST test set for nnscope's checkpoint)
    model: LoadedModel | None  # eval mode, CPU; None for the stages that need no model
    checkpoint: Path | None = None  # the checkpoint the report trained or reused; None for a model it was given
    seed: int = 0
    quick: bool = False  # small aggregates, for tests
    image: np.ndarray | None = None  # --image (C, H, W) in [0, 1]: the one-image analyses study it
    classes: tuple[int, int] | None = None  # --classes: the pair compared, the first the class studied


def unavailable(reason: str) -> dict:
    """The section of an analysis that could not run: the page says so instead of failing."""
    return {"available": False, "reason": reason, "figures": []}


def skipped(reason: str) -> dict:
    """A section that did not run, with the line the page shows."""
    return {**unavailable(reason), "finding": [reason[0].upper() + reason[1:] + "."]}
