"""`nnscope longseq`: Problem 4 measured: vanishing gradients, echo state network, LSTM, on long sequences."""

import contextlib
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_out_option, log, options_from_args, progress_bar
from nnscope.cli.tables import print_table
from nnscope.options.longseq import LongSeqOptions

DEFAULTS = LongSeqOptions


def register(subparsers) -> None:
    """Add `nnscope longseq` and its options."""
    parser = add_command(
        subparsers, "longseq",
        description="Generate protein-like sequences whose label is a motif at a chosen distance from the end, then\n"
        "(4.1) measure ||dL/dh(t)|| from tau back to 1 and the far past's share of dL/dW, dL/dU against dL/dV, dL/dc\n"
        "at several spectral radii of W; (4.2) fit an echo state network (W, U fixed, V, c by ridge regression)\n"
        "and compare its accuracy by motif distance with a vanilla RNN and an LSTM trained by BPTT; (4.3) measure\n"
        "the gradient carried by the LSTM's cell state at several forget biases. Writes the figures, the answers\n"
        "(longseq_answers.md) and every curve (longseq.json) to --out. With --fasta, fits the echo state network\n"
        "on your labelled sequences ('>id label' headers, label 0 or 1) instead and writes longseq_fasta.json.",
        run=run, show=show,
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=DEFAULTS.lengths, metavar="T",
                        help="sequence lengths in residues (= steps) of the gradient measurement")
    parser.add_argument("--distances", type=int, nargs="+", default=DEFAULTS.distances, metavar="D",
                        help="motif distances from the end of the sequence, in residues after the motif (ESN and "
                        "training)")
    parser.add_argument("--train-length", type=int, default=DEFAULTS.train_length, metavar="T",
                        help="residues of the sequences the ESN, the RNNs and the LSTMs learn from")
    parser.add_argument("--radii", type=float, nargs="+", default=DEFAULTS.spectral_radii, metavar="R",
                        help="spectral radii of W for the gradient measurement (each > 0)")
    parser.add_argument("--forget-biases", type=float, nargs="+", default=DEFAULTS.forget_biases, metavar="B",
                        help="LSTM forget-gate biases for the gradient measurement")
    parser.add_argument("--far", type=int, default=DEFAULTS.far, metavar="K",
                        help="inputs more than K steps before the end count as the far past")
    parser.add_argument("--hidden", type=int, default=DEFAULTS.hidden, metavar="N",
                        help="units of the RNNs and LSTMs")
    parser.add_argument("--updates", type=int, default=DEFAULTS.updates, metavar="N",
                        help="Adam updates of each trained model (the same budget for the RNN and the LSTM)")
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate, metavar="LR",
                        help="Adam step size of each trained model")
    parser.add_argument("--seeds", type=int, default=DEFAULTS.seeds, metavar="N",
                        help="trained models per network and distance (different initial weights and batch orders)")
    parser.add_argument("--train-forget-biases", type=float, nargs="+", default=DEFAULTS.train_forget_biases,
                        metavar="B", help="initial forget-gate biases of the trained LSTMs")
    parser.add_argument("--train-count", type=int, default=DEFAULTS.train_count, metavar="N",
                        help="training sequences per distance")
    parser.add_argument("--test-count", type=int, default=DEFAULTS.test_count, metavar="N",
                        help="test sequences per distance")
    parser.add_argument("--esn-size", type=int, default=DEFAULTS.esn_size, metavar="N",
                        help="reservoir units of the ESN")
    parser.add_argument("--esn-radius", type=float, default=DEFAULTS.esn_radius, metavar="R",
                        help="spectral radius of the ESN's fixed W (below 1 for the echo-state property)")
    parser.add_argument("--esn-input-scaling", type=float, default=DEFAULTS.esn_input_scaling, metavar="S",
                        help="the ESN's fixed U has entries uniform in [-S, S]")
    parser.add_argument("--ridge", type=float, default=DEFAULTS.ridge, metavar="LAMBDA",
                        help="ridge penalty of the ESN readout V (>= 0)")
    parser.add_argument("--fasta", type=Path, default=DEFAULTS.fasta, metavar="FILE",
                        help="labelled sequences ('>id label' headers): fit and test the ESN on them instead")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of every random draw")
    add_out_option(parser)


class StageBars:
    """Progress `(completed, total, info)` as one bar per stage of the study on stderr: a new bar opens
    whenever the count starts again or the total changes (the study's next stage)."""

    def __init__(self):
        self.stack, self.advance, self.done, self.total = contextlib.ExitStack(), None, 0, None

    def __call__(self, completed: int, total: int | None = None, info: str = "") -> None:
        if self.advance is None or completed < self.done or total != self.total:
            self.close()
            self.stack = contextlib.ExitStack()
            self.advance = self.stack.enter_context(progress_bar(info.split(":")[0], total))
            self.done, self.total = 0, total
        self.advance(completed - self.done, info.split(": ", 1)[-1])
        self.done = completed

    def close(self) -> None:
        """Close the open bar, if any."""
        self.stack.close()
        self.advance = None


def median(values) -> float:
    """The median of a few numbers (the seeds' accuracies)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run(args):
    """Check the options, run the study (`run_longseq_figures`, the report's stage), write its figures, answers
    and numbers to --out; the LongSeqResult (FastaESNResult with --fasta)."""
    options = options_from_args(LongSeqOptions, args, spectral_radii="radii")
    options.check()
    for option in options.unused():
        log(f"note: {option} is ignored with --fasta (only the echo state network runs)")
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.report.figures_longseq import run_longseq_figures

    bars = StageBars()
    try:
        result = run_longseq_figures(None, None, options, out=args.out, progress=bars)  # checks --out before the work
    finally:
        bars.close()
    if "seconds" in result:
        log(f"measured in {result['seconds']:.1f} s; figures and answers in {args.out}")
    return write_longseq_files(result, args.out)


def write_longseq_files(result, out):
    """Write the answers (longseq_answers.md) and every number (longseq.json, or longseq_fasta.json) into `out`."""
    from nnscope.fileio import atomic_write_text, write_json
    from nnscope.findings.longseq import answers_markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "records" in result:  # --fasta
        write_json(out / "longseq_fasta.json", result)
        return result
    result.answers_file = str(atomic_write_text(out / "longseq_answers.md", answers_markdown(result)))
    result.json_file = str(out / "longseq.json")
    write_json(out / "longseq.json", result)
    return result


def show(result: dict, console) -> None:
    """Tables of the gradient rates and the accuracies, the answers, the files written."""
    if "records" in result:  # --fasta
        table = Table("features", "train accuracy", "test accuracy",
                      title=f"echo state network on {result['fasta']}: {result['train']} train / {result['test']} "
                            f"test records, lengths {result['lengths']['min']}-{result['lengths']['max']}")
        for kind in ("final", "mean"):
            table.add_row(f"{kind} state", f"{result[kind]['train_accuracy']:.1%}", f"{result[kind]['test_accuracy']:.1%}")
        print_table(console, table)
        for line in result["finding"]:
            console.print(line, highlight=False)
        return
    longest = max(r["length"] for r in result["gradients"]["rnn"])
    grads = Table("network", "setting", "x per step", "log10 change", "far share dL/dW or gates",
                  title=f"gradient through time (T = {longest}, far past: more than k = {result['gradients']['far']} "
                        f"steps back; dL/dV, dL/dc: 0 by construction)")
    for r in (r for r in result["gradients"]["rnn"] if r["length"] == longest):
        grads.add_row("RNN", f"radius {r['spectral_radius']:g}", f"{r['rate']['factor_per_step']:.3f}",
                      f"{r['rate']['log10_change_over_sequence']:+.1f}", f"{r['far_share']['W']:.1%}")
    for r in (r for r in result["gradients"]["lstm"] if r["length"] == longest):
        grads.add_row("LSTM cell", f"forget bias {r['forget_bias']:g}", f"{r['cell_rate']['factor_per_step']:.3f}",
                      f"{r['cell_rate']['log10_change_over_sequence']:+.1f}", f"{r['far_share']['U_and_W']:.1%}")
    print_table(console, grads)
    trained = result["trained"]
    setups = [("RNN", trained["rnn"])] + [(f"LSTM b_f={b:g}", [r for r in trained["lstm"] if r["forget_bias"] == b])
                                          for b in trained["forget_biases"]]
    acc = Table("distance", "ESN", *(name for name, _ in setups),
                title=f"median test accuracy over {trained['seeds']} seeds, T = {trained['length']}")
    for i, e in enumerate(result["esn"]["accuracy"]):
        acc.add_row(str(e["distance"]), f"{e['final']['test_accuracy']:.0%}",
                    *(f"{median(rows[i]['test_accuracy']):.0%}" for _, rows in setups))
    print_table(console, acc)
    for key, text in result["answers"].items():
        console.print(f"[bold]{key}[/bold] {text}\n", highlight=False)
    out = Path(result["json_file"]).parent
    console.print(f"figures: {', '.join(str(out / f['file']) for f in result['figures'])}; answers: "
                  f"{result['answers_file']}; every curve: {result['json_file']} ({result['seconds']:.0f} s)")
