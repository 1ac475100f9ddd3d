"""What `nnscope rnn` (Problem 3) can be asked: the parameter file, or Problem 3's own values."""

import os
from dataclasses import dataclass
from pathlib import Path

from nnscope.errors import NnscopeError


@dataclass(frozen=True)
class RNNOptions:
    """The recurrent network of DL book eqs. 10.8-10.11 worked through by hand."""

    params: Path | str | None = None  # JSON parameter file (b, c, W, U, V, x, ...); None: Problem 3's values

    def check(self) -> None:
        """Raise NnscopeError naming the option that does not fit."""
        check_params_path(self.params)


def check_params_path(params) -> None:
    """--params: None or a path to a file (its fields are checked when it is read)."""
    if params is None:
        return
    if not isinstance(params, (str, os.PathLike)):
        raise NnscopeError(f"--params: {params!r}; expected the path of a JSON parameter file")
    if Path(params).is_dir():
        raise NnscopeError(f"--params: {params} is a folder; expected a JSON parameter file")
