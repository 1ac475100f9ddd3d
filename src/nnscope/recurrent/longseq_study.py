"""Problem 4 as one experiment, `run_longseq`: gradients through thousands of steps (RNN and LSTM), and the
echo state network beside vanilla RNNs and LSTMs trained end to end (several seeds, trained as one batch).

It returns data only (a `LongSeqResult`, or a `FastaESNResult` with --fasta): the answers come from
nnscope.findings.longseq, the figures from nnscope.report.figures_longseq, which its callers (the command,
the report) apply to the result and `result.figure()` reaches.
"""

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.fileio import versions
from nnscope.findings.longseq import describe_longseq, longseq_answers
from nnscope.options.longseq import LongSeqOptions
from nnscope.progress import Progress, no_progress
from nnscope.recurrent.esn import EchoStateConfig, echo_state_check, esn_accuracy, make_reservoir
from nnscope.recurrent.longseq import (LSTM_CELL_ACTIVATION, lstm_gradient_profile, random_lstm, random_rnn,
                                       rnn_gradient_profile)
from nnscope.recurrent.sequences import AMINO_ACIDS, MOTIFS, SequenceSet, generate_motif_sequences, read_fasta
from nnscope.recurrent.train_sequences import KINDS, TrainBudget, train_models
from nnscope.results import Result
from nnscope.threads import one_thread

LSTM_CELL_RADIUS = 1.0  # the LSTM's cell input uses the RNN's W draw scaled to this spectral radius


@dataclass
class LongSeqConfig:
    """Every knob of the study (what results record as `config`): the options plus the fixed ones."""

    lengths: tuple[int, ...]  # sequence lengths tau of the gradient measurement
    distances: tuple[int, ...]  # residues between the motif and the end of the sequence (ESN and training)
    train_length: int  # residues of the sequences the ESN, the RNN and the LSTM learn from
    spectral_radii: tuple[float, ...]  # of W in the gradient measurement
    forget_biases: tuple[float, ...]  # b_f of the LSTM in the gradient measurement
    hidden: int  # units of every RNN and LSTM (the ESN's reservoir size is esn.size)
    far: int  # k: inputs more than k steps before the end count as the far past
    train_count: int  # training sequences per distance (ESN, RNN and LSTM see the same ones)
    test_count: int  # held-out sequences per distance
    esn: EchoStateConfig
    budget: TrainBudget
    seeds: int  # trained models per network and distance
    train_forget_biases: tuple[float, ...]  # initial b_f of the trained LSTMs
    seed: int  # every random draw derives from it
    input_scaling: float = 0.1  # std of the entries of U in the gradient measurement (x(t) is one-hot)
    gradient_batch: int = 8  # sequences in the batch whose mean loss is differentiated


def study_config(options: LongSeqOptions) -> LongSeqConfig:
    """The whole study's configuration from the options (the ESN and the training budget share the seed)."""
    esn = EchoStateConfig(size=options.esn_size, spectral_radius=options.esn_radius,
                          input_scaling=options.esn_input_scaling, ridge=options.ridge, seed=options.seed)
    budget = TrainBudget(hidden=options.hidden, updates=options.updates, learning_rate=options.learning_rate,
                         evaluate_every=max(1, options.updates // 16), seed=options.seed)
    return LongSeqConfig(lengths=tuple(options.lengths), distances=tuple(options.distances),
                         train_length=options.train_length, seeds=options.seeds,
                         train_forget_biases=tuple(options.train_forget_biases),
                         spectral_radii=tuple(options.spectral_radii), forget_biases=tuple(options.forget_biases),
                         hidden=options.hidden, far=options.far, train_count=options.train_count,
                         test_count=options.test_count, esn=esn, budget=budget, seed=options.seed)


@dataclass
class LongSeqResult(Result):
    """Problem 4 measured: the gradient through time (4.1, 4.3), the echo state network (4.2) and RNNs and
    LSTMs trained with one budget, with the three answers; every curve as plain lists."""

    title = "long sequences: vanishing gradients, echo state network, LSTM"
    config: dict  # LongSeqConfig as a dict
    seed: int
    versions: dict
    task: dict  # the alphabet, the motifs and the labelling rule
    stage_seconds: dict
    gradients: dict  # rows per length and spectral radius (RNN) or forget bias (LSTM), and the explorer's data
    esn: dict  # the echo-state check and the accuracy per distance
    trained: dict  # the RNNs' and LSTMs' accuracies and curves per distance (and forget bias) and seed
    seconds: float
    answers: dict = field(default_factory=dict)  # 4.1, 4.2, 4.3 in sentences
    figures: list = field(default_factory=list)
    finding: list[str] = field(default_factory=list)
    answers_file: str | None = None  # the command's longseq_answers.md
    json_file: str | None = None  # the command's longseq.json

    def omitted_when_none(self) -> tuple[str, ...]:
        return ("answers_file", "json_file")

    def key_numbers(self) -> list[tuple[str, object]]:
        longest = max(r["length"] for r in self.gradients["rnn"])
        rows = [(f"RNN radius {r['spectral_radius']:g}: gradient x per step", r["rate"]["factor_per_step"])
                for r in self.gradients["rnn"] if r["length"] == longest]
        rows += [(f"LSTM b_f = {r['forget_bias']:g}: cell gradient x per step", r["cell_rate"]["factor_per_step"])
                 for r in self.gradients["lstm"] if r["length"] == longest]
        far = max(self.config["distances"])
        rows += [(f"ESN test accuracy, motif {far} back", next(e["final"]["test_accuracy"] for e in self.esn["accuracy"]
                                                             if e["distance"] == far))]
        rows += [(f"{kind.upper()} median test accuracy, motif {far} back" + (
                  f", b_f = {r['forget_bias']:g}" if "forget_bias" in r else ""), r["median_test_accuracy"])
                 for kind in KINDS for r in self.trained[kind] if r["distance"] == far]
        return rows


@dataclass
class FastaESNResult(Result):
    """The echo state network on the labelled sequences of a FASTA file (`--fasta`)."""

    title = "echo state network on your sequences"
    records: int
    train: int
    test: int
    lengths: dict  # min, max residues
    final: dict  # train and test accuracy of the readout on the final state
    mean: dict  # ... on the mean state
    fixed: list[str]
    learned: list[str]
    fasta: str
    seed: int
    esn: dict
    versions: dict
    figures: list = field(default_factory=list)
    finding: list[str] = field(default_factory=list)

    def key_numbers(self) -> list[tuple[str, object]]:
        return [("records (train / test)", f"{self.records} ({self.train} / {self.test})"),
                ("lengths", f"{self.lengths['min']}-{self.lengths['max']}"),
                ("test accuracy, final state", self.final["test_accuracy"]),
                ("test accuracy, mean state", self.mean["test_accuracy"])]


def run_longseq(model=None, data=None, options: LongSeqOptions = LongSeqOptions(), out: str | Path | None = None,
                progress: Progress | None = None) -> LongSeqResult | FastaESNResult:
    """Problem 4 measured (or, with `options.fasta`, the ESN on those sequences) and its answers in `finding`;
    `model`, `data` and `out` are unused (one signature for the report's stages; the callers draw the figures)."""
    options.check()
    if options.fasta is not None:
        measured = fasta_study(options)
        return FastaESNResult(**measured, finding=describe_longseq(measured))
    measured = longseq_study(study_config(options), progress or no_progress)
    measured["answers"] = longseq_answers(measured)
    return LongSeqResult(**measured, finding=describe_longseq(measured))


def derived_seed(seed: int, *parts: int) -> int:
    """A seed for one draw of the study, fixed by the study's seed and the draw's coordinates."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])


def longseq_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """Every measurement of Problem 4 as plain JSON-ready data (curves are lists, log10 of 0 is None)."""
    start = time.perf_counter()
    result = {"config": asdict(config), "seed": config.seed, "versions": versions(),
              "task": {"alphabet": AMINO_ACIDS, "motifs": list(MOTIFS),
                       "rule": f"the label is k when motif k ({MOTIFS[0]} for 0, {MOTIFS[1]} for 1) ends d residues "
                               f"before the end, d being the motif distance; every other residue is uniform over the "
                               f"20 amino acids"}}
    result["stage_seconds"] = {}
    with one_thread():
        for name, stage in (("gradients", gradient_study), ("esn", esn_study), ("trained", training_study)):
            began = time.perf_counter()
            result[name] = stage(config, progress)
            result["stage_seconds"][name] = time.perf_counter() - began
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


def gradient_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """||dL/dh(t)|| and far shares for the RNN at each spectral radius and the LSTM at each forget bias.

    Like is compared with like: every RNN is one draw of W, U, V (W scaled to each radius), and the LSTM's
    cell input and readout use that same draw (W at LSTM_CELL_RADIUS) with tanh, as the RNN's state does;
    only the gates' own matrices are drawn apart, and two LSTMs differ only in b_f."""
    rnn_seed, gate_seed = derived_seed(config.seed, 2), derived_seed(config.seed, 3)
    out = {"far": config.far, "rnn": [], "lstm": [],
           "lstm_weights": {"from_rnn": ["U", "W", "V"], "W_spectral_radius": LSTM_CELL_RADIUS,
                            "own": ["U_f", "W_f", "U_g", "W_g", "U_o", "W_o"], "own_seed": gate_seed,
                            "rnn_seed": rnn_seed, "cell_activation": LSTM_CELL_ACTIVATION}}
    total = len(config.lengths) * (len(config.spectral_radii) + len(config.forget_biases))
    done = 0
    for length in config.lengths:
        batch = generate_motif_sequences(config.gradient_batch, length, config.far, derived_seed(config.seed, 1, length))
        for radius in config.spectral_radii:
            net = random_rnn(config.hidden, radius, config.input_scaling, rnn_seed)
            out["rnn"].append({"length": length, "spectral_radius": radius,
                               **rnn_gradient_profile(net, batch.tokens, batch.labels, config.far)})
            done += 1
            progress(done, total, f"gradients through time: RNN, T={length}, radius {radius}")
        cell_input = random_rnn(config.hidden, LSTM_CELL_RADIUS, config.input_scaling, rnn_seed)
        for bias in config.forget_biases:
            params = random_lstm(config.hidden, bias, config.input_scaling, gate_seed, rnn=cell_input)
            out["lstm"].append({"length": length, "forget_bias": bias,
                                **lstm_gradient_profile(params, batch.tokens, batch.labels, config.far)})
            done += 1
            progress(done, total, f"gradients through time: LSTM, T={length}, forget bias {bias}")
    out["explorer"] = explorer_data(config, rnn_seed, gate_seed)
    return out


def explorer_data(config: LongSeqConfig, rnn_seed: int, gate_seed: int) -> dict:
    """What the page's sliders need to redraw the measurement in the browser at any spectral radius, length and
    forget bias: the longest batch, W at spectral radius 1 (the measurement scales it), and the LSTM's draws."""
    length = max(config.lengths)
    batch = generate_motif_sequences(config.gradient_batch, length, config.far, derived_seed(config.seed, 1, length))
    unit = random_rnn(config.hidden, 1.0, config.input_scaling, rnn_seed)
    cell_input = random_rnn(config.hidden, LSTM_CELL_RADIUS, config.input_scaling, rnn_seed)
    lstm = random_lstm(config.hidden, 0.0, config.input_scaling, gate_seed, rnn=cell_input)
    # lists, not arrays: `plain` keeps lists of floats exact (it rounds array curves to 6 digits)
    return {"tokens": batch.tokens.tolist(), "labels": batch.labels.tolist(), "far": config.far,
            "W_unit": unit["W"].tolist(), "U": unit["U"].tolist(), "V": unit["V"].tolist(), "c": unit["c"].tolist(),
            "lstm": {k: v.tolist() for k, v in lstm.items() if k != "b_f"},
            "spectral_radii": list(config.spectral_radii), "forget_biases": list(config.forget_biases)}


def task_split(config: LongSeqConfig, length: int, distance: int) -> tuple[SequenceSet, SequenceSet]:
    """The training and test sequences of one (length, distance) cell; the same for every model."""
    return (generate_motif_sequences(config.train_count, length, distance, derived_seed(config.seed, 4, length, distance)),
            generate_motif_sequences(config.test_count, length, distance, derived_seed(config.seed, 5, length, distance)))


def esn_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """Echo-state check, then the ESN's accuracy at every distance, on the sequences the RNN and LSTM learn from."""
    check = echo_state_check(make_reservoir(config.esn), seed=config.seed)
    out = {"fixed": ["W", "U", "b"], "learned": ["V", "c"], "config": asdict(config.esn), "check": check,
           "length": config.train_length, "accuracy": [],
           "memory_steps": 1 / (1 - config.esn.spectral_radius) if config.esn.spectral_radius < 1 else None}
    for distance in config.distances:
        train, test = task_split(config, config.train_length, distance)
        scores = esn_accuracy(train, test, config.esn)
        out["accuracy"].append({"length": config.train_length, "distance": distance, "final": scores["final"],
                                "mean": scores["mean"]})
        progress(len(out["accuracy"]), len(config.distances),
                 f"echo state network: distance {distance}: {scores['final']['test_accuracy']:.0%}")
    return out


def training_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """RNNs and LSTMs trained by BPTT with one budget: every distance and seed of a network in one batch."""
    length, seeds = config.train_length, config.seeds
    by_distance = {d: task_split(config, length, d) for d in config.distances}  # (train, test): the ESN's too
    setups = {"rnn": [(d, None) for d in config.distances],
              "lstm": [(d, bias) for d in config.distances for bias in config.train_forget_biases]}
    out = {"length": length, "seeds": seeds, "budget": asdict(config.budget), "forget_biases": list(config.train_forget_biases)}
    total = len(KINDS) * config.budget.updates
    done = [0]

    def step(n: int, info: str) -> None:
        done[0] += n
        progress(done[0], total, f"training RNNs and LSTMs (T={length}): {info}")

    for kind in KINDS:
        rows = [(d, bias, seed) for d, bias in setups[kind] for seed in range(seeds)]  # model m = row m
        run = train_models(kind, [by_distance[d][0] for d, _, _ in rows], [by_distance[d][1] for d, _, _ in rows],
                           config.budget, forget_biases=[1.0 if b is None else b for _, b, _ in rows], progress=step)
        out["curve_updates"] = run["curve_updates"]
        out[kind] = []
        for i, (d, bias) in enumerate(setups[kind]):
            own = slice(i * seeds, (i + 1) * seeds)  # this setup's seeds
            out[kind].append({"distance": d, **({} if bias is None else {"forget_bias": bias}),
                              "median_test_accuracy": float(np.median(run["test_accuracy"][own])),
                              "test_accuracy": run["test_accuracy"][own], "train_accuracy": run["train_accuracy"][own],
                              "test_curve": run["test_curve"][own], "loss_curve": run["losses"][own].mean(0)})
        out[f"{kind}_seconds"] = run["seconds"]
    return out


def fasta_study(options: LongSeqOptions) -> dict:
    """The echo state network of the options on the labelled sequences of `options.fasta`."""
    esn = study_config(options).esn
    result = fasta_esn_study(read_fasta(options.fasta), esn, seed=options.seed)
    result.update(fasta=str(options.fasta), seed=options.seed, esn=asdict(esn), versions=versions())
    return result


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
