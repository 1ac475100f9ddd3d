"""What `nnscope lstm` (Problem 5) can be asked: the parameter file and the cell input's squashing."""

from dataclasses import dataclass
from pathlib import Path

from nnscope.options.checks import one_of
from nnscope.options.rnn import check_params_path

# squashing of the LSTM's cell input: sigmoid as in the book's eq. 10.41, tanh the common variant
# (the same tuple as nnscope.recurrent.params.CELL_ACTIVATIONS, which reads it from the file)
CELL_ACTIVATIONS = ("sigmoid", "tanh")


@dataclass(frozen=True)
class LSTMOptions:
    """Problem 3's network with its recurrence replaced by the LSTM cell of DL book eqs. 10.40-10.44."""

    params: Path | str | None = None  # JSON parameter file; None: Problem 3's values and the default gate biases
    cell_activation: str | None = None  # "sigmoid" or "tanh"; None: the file's cell_activation, else sigmoid

    def check(self) -> None:
        """Raise NnscopeError naming the option that does not fit."""
        check_params_path(self.params)
        if self.cell_activation is not None:
            one_of("--cell-activation", self.cell_activation, CELL_ACTIVATIONS)
