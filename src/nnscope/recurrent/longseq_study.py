"""Problem 4 as one experiment: gradients through thousands of steps (RNN and LSTM), the echo state
network against a vanilla RNN and an LSTM trained end to end, and the answers written from the numbers.
"""

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.fileio import versions
from nnscope.recurrent import longseq_answers
from nnscope.recurrent.esn import EchoStateConfig, echo_state_check, esn_accuracy, make_reservoir
from nnscope.recurrent.longseq import lstm_gradient_profile, random_lstm, random_rnn, rnn_gradient_profile
from nnscope.recurrent.sequences import AMINO_ACIDS, MOTIFS, SequenceSet, generate_motif_sequences
from nnscope.recurrent.train_sequences import KINDS, TrainBudget, train_classifier
from nnscope.threads import one_thread


@dataclass
class LongSeqConfig:
    """Every knob of the study; the defaults run in under 3 minutes on 2 CPU cores."""

    lengths: tuple[int, ...] = (1000, 5000)  # sequence lengths tau: gradients and the ESN at each, training at the shortest
    distances: tuple[int, ...] = (0, 10, 30, 100, 300)  # residues between the motif and the end of the sequence
    spectral_radii: tuple[float, ...] = (0.5, 0.9, 1.0, 1.5, 2.0)  # of W in the gradient measurement
    forget_biases: tuple[float, ...] = (0.0, 1.0, 3.0)  # b_f of the LSTM in the gradient measurement
    hidden: int = 32  # units of every RNN and LSTM (the ESN's reservoir size is esn.size)
    input_scaling: float = 0.1  # std of the entries of U in the gradient measurement (x(t) is one-hot)
    far: int = 100  # k: inputs more than k steps before the end count as the far past
    gradient_batch: int = 8  # sequences in the batch whose mean loss is differentiated
    train_count: int = 512  # training sequences per distance (ESN, RNN and LSTM see the same ones)
    test_count: int = 256  # held-out sequences per distance
    esn: EchoStateConfig = field(default_factory=lambda: EchoStateConfig(input_scaling=0.1, ridge=1e-6))
    budget: TrainBudget = field(default_factory=TrainBudget)
    seed: int = 0  # every random draw derives from it

    def check(self) -> "LongSeqConfig":
        """This config, or an error naming the option that does not fit."""
        motif = len(MOTIFS[0])
        if not self.lengths or min(self.lengths) < motif + 1:
            raise NnscopeError(f"--lengths: expected lengths of at least {motif + 1} residues, got {list(self.lengths)}")
        if not self.distances or min(self.distances) < 0 or max(self.distances) + motif > min(self.lengths):
            raise NnscopeError(f"--distances: expected distances from 0 to {min(self.lengths) - motif} (shortest length "
                               f"{min(self.lengths)} minus the motif's {motif} residues), got {list(self.distances)}")
        if self.far < 0 or self.far >= max(self.lengths):
            raise NnscopeError(f"--far: expected 0 <= k < {max(self.lengths)}, got {self.far}")
        if not self.spectral_radii or min(self.spectral_radii) <= 0:
            raise NnscopeError(f"--radii: expected spectral radii > 0, got {list(self.spectral_radii)}")
        if not self.forget_biases:
            raise NnscopeError("--forget-biases: expected at least one bias")
        if self.budget.updates < 1:
            raise NnscopeError(f"--updates: expected at least 1 Adam update, got {self.budget.updates}")
        if self.input_scaling <= 0:
            raise NnscopeError(f"--input-scaling: expected a number > 0, got {self.input_scaling}")
        for name in ("gradient_batch", "train_count", "test_count", "hidden"):
            if getattr(self, name) < 2:
                raise NnscopeError(f"{name.replace('_', ' ')}: expected at least 2, got {getattr(self, name)}")
        self.esn.check()
        return self


def derived_seed(seed: int, *parts: int) -> int:
    """A seed for one draw of the study, fixed by the study's seed and the draw's coordinates."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])


def no_progress(stage: str, total: int):
    """The default progress callback: ignores everything."""
    return lambda n=1, info="": None


def run_longseq_study(config: LongSeqConfig, progress=None) -> dict:
    """Every measurement of Problem 4 as plain JSON-ready data (curves are lists, log10 of 0 is None);
    `progress(stage, total)` returns `advance(n=1, info="")`."""
    config.check()
    progress = progress or no_progress
    start = time.perf_counter()
    result = {"config": asdict(config), "seed": config.seed, "versions": versions(),
              "task": {"alphabet": AMINO_ACIDS, "motifs": list(MOTIFS),
                       "rule": f"label = k where motif k ({MOTIFS[0]} or {MOTIFS[1]}) ends `distance` residues "
                               f"before the end; every other residue uniform over the 20 amino acids"}}
    result["stage_seconds"] = {}
    with one_thread():
        for name, stage in (("gradients", gradient_study), ("esn", esn_study), ("trained", training_study)):
            began = time.perf_counter()
            result[name] = stage(config, progress)
            result["stage_seconds"][name] = time.perf_counter() - began
    result["answers"] = longseq_answers.answers(result)
    result["seconds"] = time.perf_counter() - start
    return plain(result)


def plain(value):
    """JSON-ready data: arrays become lists, and a value that is not finite (log10 of an exact zero) None."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray) and value.ndim > 1:
        return [plain(row) for row in value]
    if isinstance(value, np.ndarray):  # curves: 6 significant digits keep the JSON a few MB smaller
        return [float(f"{v:.6g}") if math.isfinite(v) else None for v in value.astype(float).tolist()]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def gradient_study(config: LongSeqConfig, progress=no_progress) -> dict:
    """||dL/dh(t)|| and far shares for the RNN at each spectral radius and the LSTM at each forget bias."""
    out = {"far": config.far, "rnn": [], "lstm": []}
    advance = progress("gradients through time", len(config.lengths) * (len(config.spectral_radii) + len(config.forget_biases)))
    for length in config.lengths:
        batch = generate_motif_sequences(config.gradient_batch, length, config.far, derived_seed(config.seed, 1, length))
        for radius in config.spectral_radii:
            net = random_rnn(config.hidden, radius, config.input_scaling, derived_seed(config.seed, 2))
            out["rnn"].append({"length": length, "spectral_radius": radius,
                               **rnn_gradient_profile(net, batch.tokens, batch.labels, config.far)})
            advance(1, f"RNN, T={length}, radius {radius}")
        for bias in config.forget_biases:
            params = random_lstm(config.hidden, bias, config.input_scaling, derived_seed(config.seed, 3))
            out["lstm"].append({"length": length, "forget_bias": bias,
                                **lstm_gradient_profile(params, batch.tokens, batch.labels, config.far)})
            advance(1, f"LSTM, T={length}, forget bias {bias}")
    return out


def task_split(config: LongSeqConfig, length: int, distance: int) -> tuple[SequenceSet, SequenceSet]:
    """The training and test sequences of one (length, distance) cell; the same for every model."""
    return (generate_motif_sequences(config.train_count, length, distance, derived_seed(config.seed, 4, length, distance)),
            generate_motif_sequences(config.test_count, length, distance, derived_seed(config.seed, 5, length, distance)))


def esn_study(config: LongSeqConfig, progress=no_progress) -> dict:
    """Echo-state check, then the ESN's accuracy at every length and distance."""
    check = echo_state_check(make_reservoir(config.esn), seed=config.seed)
    out = {"fixed": ["W", "U", "b"], "learned": ["V", "c"], "config": asdict(config.esn), "check": check, "accuracy": []}
    advance = progress("echo state network", len(config.lengths) * len(config.distances))
    for length in config.lengths:
        for distance in config.distances:
            train, test = task_split(config, length, distance)
            scores = esn_accuracy(train, test, config.esn)
            out["accuracy"].append({"length": length, "distance": distance, "final": scores["final"], "mean": scores["mean"]})
            advance(1, f"T={length}, distance {distance}: {scores['final']['test_accuracy']:.0%}")
    return out


def training_study(config: LongSeqConfig, progress=no_progress) -> dict:
    """The vanilla RNN and the LSTM trained by BPTT at the shortest length, at every distance."""
    length = min(config.lengths)
    out = {"length": length, "budget": asdict(config.budget), **{kind: [] for kind in KINDS}}
    advance = progress(f"training RNN and LSTM (T={length})", len(config.distances) * len(KINDS) * config.budget.updates)
    for distance in config.distances:
        train, test = task_split(config, length, distance)
        for kind in KINDS:
            run = train_classifier(kind, train, test, config.budget,
                                   progress=lambda n, info: advance(n, f"distance {distance}: {info}"))
            out[kind].append({"distance": distance, **run})
    return out


def fasta_esn_study(sequences: SequenceSet, config: EchoStateConfig, seed: int = 0, test_share: float = 0.3) -> dict:
    """The echo state network on labelled sequences read from FASTA: readout fitted on a random 70%, tested on the rest."""
    if len(sequences) < 4 or len(set(sequences.labels.tolist())) < 2:
        raise NnscopeError(f"{sequences.source}: expected at least 4 records with both labels 0 and 1, got {len(sequences)} "
                           f"record(s) with labels {sorted(set(sequences.labels.tolist()))}")
    order = np.random.default_rng(seed).permutation(len(sequences))
    cut = max(1, int(round(len(order) * test_share)))
    train, test = sequences.subset(order[cut:]), sequences.subset(order[:cut])
    with one_thread():
        scores = esn_accuracy(train, test, config)
    return {"records": len(sequences), "train": len(train), "test": len(test),
            "lengths": {"min": int(sequences.lengths.min()), "max": int(sequences.lengths.max())},
            "final": scores["final"], "mean": scores["mean"], "fixed": scores["fixed"], "learned": scores["learned"]}
