"""What a report stage gets (`Context`) and the record of a section that was not computed."""

from dataclasses import dataclass
from pathlib import Path

import torch

from nnscope.data import Digits


@dataclass(frozen=True)
class Context:
    """What every stage gets: where to draw, the data, the trained model, the seed."""

    out: Path  # the report folder; figures are written here
    digits: Digits
    model: torch.nn.Module  # eval mode, CPU
    checkpoint: Path
    seed: int = 0
    quick: bool = False  # small aggregates, for tests


def unavailable(reason: str) -> dict:
    """The section of an analysis that could not run: the page says so instead of failing."""
    return {"available": False, "reason": reason, "figures": []}
