"""Problem 4 as one experiment, `run_longseq`: gradients through thousands of steps (RNN and LSTM), the echo
state network against a vanilla RNN and an LSTM trained end to end, and (when `out` is given) the figures.
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.fileio import atomic_write_text, versions, write_json
from nnscope.findings.longseq import answers_markdown, describe_longseq, longseq_answers
from nnscope.options.longseq import LongSeqOptions
from nnscope.outputs import check_output_dir
from nnscope.progress import Progress, no_progress
from nnscope.recurrent.esn import EchoStateConfig, echo_state_check, esn_accuracy, make_reservoir
from nnscope.recurrent.longseq import (LSTM_CELL_ACTIVATION, lstm_gradient_profile, random_lstm, random_rnn,
                                       rnn_gradient_profile)
from nnscope.recurrent.sequences import AMINO_ACIDS, MOTIFS, SequenceSet, generate_motif_sequences, read_fasta
from nnscope.recurrent.train_sequences import KINDS, TrainBudget, train_classifier
from nnscope.report.figures_longseq import longseq_figures
from nnscope.threads import one_thread

LSTM_CELL_RADIUS = 1.0  # the LSTM's cell input uses the RNN's W draw scaled to this spectral radius


@dataclass
class LongSeqConfig:
    """Every knob of the study (what results record as `config`): the options plus the fixed ones."""

    lengths: tuple[int, ...]  # sequence lengths tau: gradients and the ESN at each, training at the shortest
    distances: tuple[int, ...]  # residues between the motif and the end of the sequence
    spectral_radii: tuple[float, ...]  # of W in the gradient measurement
    forget_biases: tuple[float, ...]  # b_f of the LSTM in the gradient measurement
    hidden: int  # units of every RNN and LSTM (the ESN's reservoir size is esn.size)
    far: int  # k: inputs more than k steps before the end count as the far past
    train_count: int  # training sequences per distance (ESN, RNN and LSTM see the same ones)
    test_count: int  # held-out sequences per distance
    esn: EchoStateConfig
    budget: TrainBudget
    seed: int  # every random draw derives from it
    input_scaling: float = 0.1  # std of the entries of U in the gradient measurement (x(t) is one-hot)
    gradient_batch: int = 8  # sequences in the batch whose mean loss is differentiated


def study_config(options: LongSeqOptions) -> LongSeqConfig:
    """The whole study's configuration from the options (the ESN and the training budget share the seed)."""
    esn = EchoStateConfig(size=options.esn_size, spectral_radius=options.esn_radius,
                          input_scaling=options.esn_input_scaling, ridge=options.ridge, seed=options.seed)
    budget = TrainBudget(hidden=options.hidden, updates=options.updates, seed=options.seed)
    return LongSeqConfig(lengths=tuple(options.lengths), distances=tuple(options.distances),
                         spectral_radii=tuple(options.spectral_radii), forget_biases=tuple(options.forget_biases),
                         hidden=options.hidden, far=options.far, train_count=options.train_count,
                         test_count=options.test_count, esn=esn, budget=budget, seed=options.seed)


def run_longseq(model=None, data=None, options: LongSeqOptions = LongSeqOptions(), out: str | Path | None = None,
                progress: Progress | None = None) -> dict:
    """Problem 4 measured (or, with `options.fasta`, the ESN on those sequences), its answers in `finding`, and
    with `out` (a folder) its figures; `model` and `data` are unused (one signature for the report's stages)."""
    options.check()
    out = None if out is None else check_output_dir("--out", out)  # before the work, not after it
    if options.fasta is not None:
        result = fasta_study(options)
    else:
        result = longseq_study(study_config(options), progress or no_progress)
        result["answers"] = longseq_answers(result)
    result["figures"] = longseq_figures(result, out) if out is not None and options.fasta is None else []
    result["finding"] = describe_longseq(result)
    return result


def write_longseq_files(result: dict, out: str | Path) -> dict:
    """Write the answers (longseq_answers.md) and every number (longseq.json, or longseq_fasta.json) into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "records" in result:  # --fasta
        write_json(out / "longseq_fasta.json", result)
        return result
    result["answers_file"] = str(atomic_write_text(out / "longseq_answers.md", answers_markdown(result)))
    result["json_file"] = str(out / "longseq.json")
    write_json(out / "longseq.json", result)
    return result


def derived_seed(seed: int, *parts: int) -> int:
    """A seed for one draw of the study, fixed by the study's seed and the draw's coordinates."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])


def longseq_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """Every measurement of Problem 4 as plain JSON-ready data (curves are lists, log10 of 0 is None)."""
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
    return out


def task_split(config: LongSeqConfig, length: int, distance: int) -> tuple[SequenceSet, SequenceSet]:
    """The training and test sequences of one (length, distance) cell; the same for every model."""
    return (generate_motif_sequences(config.train_count, length, distance, derived_seed(config.seed, 4, length, distance)),
            generate_motif_sequences(config.test_count, length, distance, derived_seed(config.seed, 5, length, distance)))


def esn_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """Echo-state check, then the ESN's accuracy at every length and distance."""
    check = echo_state_check(make_reservoir(config.esn), seed=config.seed)
    out = {"fixed": ["W", "U", "b"], "learned": ["V", "c"], "config": asdict(config.esn), "check": check, "accuracy": []}
    total = len(config.lengths) * len(config.distances)
    for length in config.lengths:
        for distance in config.distances:
            train, test = task_split(config, length, distance)
            scores = esn_accuracy(train, test, config.esn)
            out["accuracy"].append({"length": length, "distance": distance, "final": scores["final"], "mean": scores["mean"]})
            progress(len(out["accuracy"]), total,
                     f"echo state network: T={length}, distance {distance}: {scores['final']['test_accuracy']:.0%}")
    return out


def training_study(config: LongSeqConfig, progress: Progress = no_progress) -> dict:
    """The vanilla RNN and the LSTM trained by BPTT at the shortest length, at every distance."""
    length = min(config.lengths)
    out = {"length": length, "budget": asdict(config.budget), **{kind: [] for kind in KINDS}}
    total, done = len(config.distances) * len(KINDS) * config.budget.updates, [0]

    def step(n: int, info: str) -> None:
        done[0] += n
        progress(done[0], total, f"training RNN and LSTM (T={length}): {info}")

    for distance in config.distances:
        train, test = task_split(config, length, distance)
        for kind in KINDS:
            run = train_classifier(kind, train, test, config.budget, progress=lambda n, info: step(n, f"distance {distance}: {info}"))
            out[kind].append({"distance": distance, **run})
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
