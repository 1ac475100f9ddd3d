"""What `nnscope longseq` (Problem 4) can be asked: the generated task, the networks, the echo state network."""

import os
from dataclasses import dataclass, fields
from pathlib import Path

from nnscope.errors import NnscopeError
from nnscope.limits import MAX_SEQUENCE_RESIDUES, MAX_SEQUENCES, MAX_STUDY_RESIDUES, MAX_UNITS
from nnscope.options.checks import real_number, whole_number

MOTIF_RESIDUES = 6  # length of the task's two motifs (nnscope.recurrent.sequences.MOTIFS; a test keeps them equal)
LARGEST_SEED = 2**63 - 1  # torch's generators take seeds below 2^64, numpy any; one bound for every draw

# the option of the command line behind each field
OPTION_NAMES = {"lengths": "--lengths", "distances": "--distances", "train_length": "--train-length",
                "spectral_radii": "--radii", "forget_biases": "--forget-biases", "far": "--far", "hidden": "--hidden",
                "updates": "--updates", "seeds": "--seeds", "learning_rate": "--learning-rate",
                "train_forget_biases": "--train-forget-biases",
                "train_count": "--train-count", "test_count": "--test-count", "esn_size": "--esn-size",
                "esn_radius": "--esn-radius", "esn_input_scaling": "--esn-input-scaling", "ridge": "--ridge",
                "fasta": "--fasta", "seed": "--seed"}
# the unit each whole-number option counts, for its error message
UNITS = {"hidden": "of units", "updates": "of Adam updates", "seeds": "of seeds", "train_count": "of sequences",
         "test_count": "of sequences", "esn_size": "of reservoir units"}
ESN_FIELDS = ("esn_size", "esn_radius", "esn_input_scaling", "ridge", "fasta", "seed")  # what --fasta uses


@dataclass(frozen=True)
class LongSeqOptions:
    """The long-sequence study; the defaults take about 100 s of CPU time (one thread)."""

    lengths: tuple[int, ...] = (1000,)  # sequence lengths tau (= steps) of the gradient measurement (4.1, 4.3)
    distances: tuple[int, ...] = (0, 10, 20, 40)  # residues between the motif and the end: ESN and training
    train_length: int = 50  # residues of every sequence the ESN, the RNN and the LSTM learn from
    spectral_radii: tuple[float, ...] = (0.5, 0.9, 1.0, 1.5, 2.0)  # largest |eigenvalue| of the RNN's W, per run
    forget_biases: tuple[float, ...] = (0.0, 1.0, 3.0)  # b_f of the LSTM in the gradient measurement
    far: int = 100  # k, in steps: inputs more than k steps before the end count as the far past
    hidden: int = 16  # units of every RNN and LSTM (measured and trained)
    updates: int = 300  # Adam updates of each trained model (the same budget for the RNN and the LSTM)
    learning_rate: float = 0.02  # Adam step size of every trained model
    seeds: int = 4  # trained models per network and distance, from different initial weights and batch orders
    train_forget_biases: tuple[float, ...] = (1.0, 3.0)  # initial b_f of the trained LSTMs (1 is the usual start)
    train_count: int = 512  # training sequences per distance (ESN, RNN and LSTM see the same ones)
    test_count: int = 256  # held-out test sequences per distance
    esn_size: int = 100  # reservoir units of the echo state network
    esn_radius: float = 0.95  # spectral radius of the ESN's fixed W (below 1 for the echo-state property)
    esn_input_scaling: float = 0.1  # the ESN's fixed U has entries uniform in [-s, s]
    ridge: float = 1e-6  # ridge penalty lambda of the ESN's readout V (c is not penalised)
    fasta: Path | str | None = None  # labelled sequences ('>id label'): fit and test the ESN on them instead
    seed: int = 0  # every random draw of the study derives from it

    def check(self) -> None:
        """Raise NnscopeError naming the option (as the command line spells it) that does not fit."""
        for name, low, high in (("hidden", 2, MAX_UNITS), ("updates", 1, None), ("seeds", 1, None),
                                ("train_count", 2, MAX_SEQUENCES), ("test_count", 2, MAX_SEQUENCES),
                                ("esn_size", 1, MAX_UNITS)):
            whole_number(OPTION_NAMES[name], getattr(self, name), low, high, unit=UNITS[name])
        whole_number("--seed", self.seed, 0, LARGEST_SEED)
        real_number("--esn-radius", self.esn_radius, 0, what="a spectral radius")
        real_number("--esn-input-scaling", self.esn_input_scaling, 0, what="an input scaling")
        real_number("--ridge", self.ridge, 0, what="a ridge penalty")
        real_number("--learning-rate", self.learning_rate, 0, what="a learning rate", open_low=True)
        for bias in listed("--train-forget-biases", self.train_forget_biases):
            real_number("--train-forget-biases", bias, what="a forget-gate bias")
        if self.fasta is not None and (not isinstance(self.fasta, (str, os.PathLike)) or Path(self.fasta).is_dir()):
            raise NnscopeError(f"--fasta: {self.fasta}; expected a FASTA file of labelled sequences")
        lengths = listed("--lengths", self.lengths)
        for length in lengths:
            whole_number("--lengths", length, MOTIF_RESIDUES + 1, MAX_SEQUENCE_RESIDUES, unit="of residues")
        shortest = min(lengths)
        room = shortest - MOTIF_RESIDUES  # the motif must fit between the start and `far` residues before the end
        whole_number("--train-length", self.train_length, MOTIF_RESIDUES + 1, MAX_SEQUENCE_RESIDUES, unit="of residues")
        for name in ("train_count", "test_count"):  # the generated set is one (count, length) array
            if getattr(self, name) * self.train_length > MAX_STUDY_RESIDUES:
                raise NnscopeError(f"{OPTION_NAMES[name]} {getattr(self, name)} x --train-length {self.train_length}: "
                                   f"{getattr(self, name) * self.train_length} residues; the limit is "
                                   f"{MAX_STUDY_RESIDUES} for one set of sequences")
        train_room = self.train_length - MOTIF_RESIDUES
        for distance in listed("--distances", self.distances):
            whole_number("--distances", distance)
            if not 0 <= distance <= train_room:
                raise NnscopeError(f"--distances: {distance}; expected a whole number of residues from 0 to {train_room} "
                                   f"(--train-length {self.train_length} minus the motif's {MOTIF_RESIDUES})")
        whole_number("--far", self.far)
        if not 0 <= self.far <= room:
            raise NnscopeError(f"--far: {self.far}; expected a whole number of steps from 0 to {room}: the sequences "
                               f"of the gradient measurement carry their motif k steps before the end, and the "
                               f"shortest of --lengths is {shortest} (the motif takes {MOTIF_RESIDUES})")
        for radius in listed("--radii", self.spectral_radii):
            real_number("--radii", radius, 0, what="a spectral radius", open_low=True)
        for bias in listed("--forget-biases", self.forget_biases):
            real_number("--forget-biases", bias, what="a forget-gate bias")

    def unused(self) -> list[str]:
        """The options set away from their defaults that do nothing here (with --fasta: all but the ESN's)."""
        if self.fasta is None:
            return []
        return [OPTION_NAMES[f.name] for f in fields(self)
                if f.name not in ESN_FIELDS and getattr(self, f.name) != f.default]


def listed(option: str, values) -> tuple:
    """`values` as a tuple with at least one entry; else NnscopeError naming `option`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
        raise NnscopeError(f"{option}: {values!r}; expected one value or more")
    return tuple(values)


# the short study of the quick report and the tests: seconds, not minutes
SHORT_STUDY = LongSeqOptions(lengths=(300,), distances=(0, 20), train_length=30, spectral_radii=(0.5, 1.0, 1.5),
                             forget_biases=(0.0, 1.0), hidden=8, train_count=64, test_count=64, updates=20, seeds=2)
