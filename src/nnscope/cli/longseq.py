"""`nnscope longseq`: Problem 4 measured: vanishing gradients, echo state network, LSTM, on long sequences."""

import contextlib
from dataclasses import replace
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_out_option, log, progress_bar
from nnscope.fileio import atomic_write_text, versions, write_json
from nnscope.outputs import check_output_dir
from nnscope.recurrent.esn import EchoStateConfig
from nnscope.recurrent.longseq_study import LongSeqConfig, fasta_esn_study, run_longseq_study
from nnscope.recurrent.sequences import read_fasta
from nnscope.report.figures_longseq import longseq_figures

DEFAULTS = LongSeqConfig()


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "longseq", help="Problem 4: vanishing gradients, echo state network and LSTM on long sequences",
        description="Generate protein-like sequences whose label is a motif at a chosen distance from the end, then\n"
        "(4.1) measure ||dL/dh(t)|| from tau back to 1 and the far past's share of dL/dW, dL/dU against dL/dV, dL/dc\n"
        "at several spectral radii of W; (4.2) fit an echo state network (W, U fixed, V, c by ridge regression)\n"
        "and compare its accuracy by motif distance with a vanilla RNN and an LSTM trained by BPTT; (4.3) measure\n"
        "the gradient carried by the LSTM's cell state at several forget biases. Writes the figures, the answers\n"
        "(longseq_answers.md) and every curve (longseq.json) to --out. With --fasta, fits the echo state network\n"
        "on your labelled sequences ('>id label' headers, label 0 or 1) instead.",
        run=run, show=show,
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULTS.lengths), metavar="T",
                        help="sequence lengths: gradients and the ESN at each, RNN/LSTM training at the shortest")
    parser.add_argument("--distances", type=int, nargs="+", default=list(DEFAULTS.distances), metavar="D",
                        help="motif distances from the end of the sequence (residues after the motif)")
    parser.add_argument("--radii", type=float, nargs="+", default=list(DEFAULTS.spectral_radii), metavar="R",
                        help="spectral radii of W for the gradient measurement")
    parser.add_argument("--forget-biases", type=float, nargs="+", default=list(DEFAULTS.forget_biases), metavar="B",
                        help="LSTM forget-gate biases for the gradient measurement")
    parser.add_argument("--far", type=int, default=DEFAULTS.far, metavar="K",
                        help="inputs more than K steps before the end count as the far past")
    parser.add_argument("--hidden", type=int, default=DEFAULTS.hidden, help="units of the RNNs and LSTMs")
    parser.add_argument("--updates", type=int, default=DEFAULTS.budget.updates,
                        help="Adam updates for each end-to-end model (the small budget)")
    parser.add_argument("--train-count", type=int, default=DEFAULTS.train_count, help="training sequences per distance")
    parser.add_argument("--test-count", type=int, default=DEFAULTS.test_count, help="test sequences per distance")
    parser.add_argument("--esn-size", type=int, default=DEFAULTS.esn.size, help="reservoir units of the ESN")
    parser.add_argument("--esn-radius", type=float, default=DEFAULTS.esn.spectral_radius,
                        help="spectral radius of the ESN's fixed W (below 1 for the echo-state property)")
    parser.add_argument("--esn-input-scaling", type=float, default=DEFAULTS.esn.input_scaling,
                        help="the ESN's fixed U has entries uniform in [-s, s]")
    parser.add_argument("--ridge", type=float, default=DEFAULTS.esn.ridge, help="ridge penalty of the ESN readout V")
    parser.add_argument("--fasta", type=Path, default=None, metavar="FILE",
                        help="labelled sequences ('>id label' headers): fit and test the ESN on them instead")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of every random draw")
    add_out_option(parser)


class StageBars:
    """One progress bar per stage of the study, on stderr; the previous bar closes when the next opens."""

    def __init__(self):
        self.stack = contextlib.ExitStack()

    def __call__(self, stage: str, total: int):
        self.stack.close()
        self.stack = contextlib.ExitStack()
        return self.stack.enter_context(progress_bar(stage, total))


def run(args) -> dict:
    check_output_dir("--out", args.out)  # before minutes of study, not after
    esn = EchoStateConfig(size=args.esn_size, spectral_radius=args.esn_radius, input_scaling=args.esn_input_scaling,
                          ridge=args.ridge, seed=args.seed).check()
    if args.fasta is not None:
        result = fasta_esn_study(read_fasta(args.fasta), esn, seed=args.seed)
        result.update(fasta=str(args.fasta), seed=args.seed, esn=vars(esn), versions=versions())
        write_json(args.out / "longseq_fasta.json", result)
        return result
    config = LongSeqConfig(
        lengths=tuple(args.lengths), distances=tuple(args.distances), spectral_radii=tuple(args.radii),
        forget_biases=tuple(args.forget_biases), far=args.far, hidden=args.hidden, train_count=args.train_count,
        test_count=args.test_count, esn=esn, budget=replace(DEFAULTS.budget, updates=args.updates, hidden=args.hidden,
                                                           seed=args.seed), seed=args.seed).check()
    bars = StageBars()
    try:
        result = run_longseq_study(config, progress=bars)
    finally:
        bars.stack.close()
    log(f"measured in {result['seconds']:.1f} s; writing figures to {args.out}")
    result["figures"] = {k: str(v) for k, v in longseq_figures(result, args.out).items()}
    result["answers_file"] = str(atomic_write_text(args.out / "longseq_answers.md", answers_markdown(result)))
    result["json_file"] = str(args.out / "longseq.json")
    write_json(args.out / "longseq.json", result)
    return result


def answers_markdown(result: dict) -> str:
    """The generated answers as a small Markdown page."""
    titles = {"4.1": "Which parameters are hardest to learn, and why?",
              "4.2": "As an echo state network: which weights are fixed, which are learned?",
              "4.3": "Why does an LSTM cell help?"}
    parts = [f"# Problem 4: long sequences (seed {result['seed']})\n"]
    parts += [f"## {key} {titles[key]}\n\n{text}\n" for key, text in result["answers"].items()]
    return "\n".join(parts)


def show(result: dict, console) -> None:
    if "records" in result:  # --fasta
        table = Table("features", "train accuracy", "test accuracy",
                      title=f"echo state network on {result['fasta']}: {result['train']} train / {result['test']} "
                            f"test records, lengths {result['lengths']['min']}-{result['lengths']['max']}")
        for kind in ("final", "mean"):
            table.add_row(f"{kind} state", f"{result[kind]['train_accuracy']:.1%}", f"{result[kind]['test_accuracy']:.1%}")
        console.print(table)
        console.print(f"fixed: {', '.join(result['fixed'])}; learned: {', '.join(result['learned'])}")
        return
    longest = max(r["length"] for r in result["gradients"]["rnn"])
    grads = Table("network", "setting", "x per step", "log10 change", "far share dL/dW or gates",
                  title=f"gradient through time (T = {longest}, k = {result['gradients']['far']})")
    for r in (r for r in result["gradients"]["rnn"] if r["length"] == longest):
        grads.add_row("RNN", f"radius {r['spectral_radius']:g}", f"{r['rate']['factor_per_step']:.3f}",
                      f"{r['rate']['log10_change_over_sequence']:+.1f}", f"{r['far_share']['W']:.1%}")
    for r in (r for r in result["gradients"]["lstm"] if r["length"] == longest):
        grads.add_row("LSTM cell", f"forget bias {r['forget_bias']:g}", f"{r['cell_rate']['factor_per_step']:.3f}",
                      f"{r['cell_rate']['log10_change_over_sequence']:+.1f}", f"{r['far_share']['U_and_W']:.1%}")
    console.print(grads)
    trained = result["trained"]
    acc = Table("distance", "ESN final", "ESN mean", "RNN (BPTT)", "LSTM (BPTT)",
                title=f"test accuracy, T = {trained['length']}")
    esn_rows = [r for r in result["esn"]["accuracy"] if r["length"] == trained["length"]]
    for e, rnn, lstm in zip(esn_rows, trained["rnn"], trained["lstm"]):
        acc.add_row(str(e["distance"]), f"{e['final']['test_accuracy']:.1%}", f"{e['mean']['test_accuracy']:.1%}",
                    f"{rnn['test_accuracy']:.1%}", f"{lstm['test_accuracy']:.1%}")
    console.print(acc)
    for key, text in result["answers"].items():
        console.print(f"[bold]{key}[/bold] {text}\n", highlight=False)
    console.print(f"figures: {', '.join(result['figures'].values())}; answers: {result['answers_file']}; "
                  f"every curve: {result['json_file']} ({result['seconds']:.0f} s)")
