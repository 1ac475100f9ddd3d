"""Figures of Problem 4, drawn from the result of `run_longseq` (nothing is computed here but what a
plot needs: the rows to draw and their order); registered in the drawing layer for `result.figure()`
(the gradient norms) and for the folder of the command and the report (all four).

Gradient norms span hundreds of decades (10^-1500 is below what float64 holds), so they are drawn
as log10 values on a linear axis rather than on a matplotlib log axis.
"""

from pathlib import Path

import numpy as np

from nnscope.recurrent.longseq_study import FastaESNResult, LongSeqResult
from nnscope.report.drawing import drawing_of, saved_figures
from nnscope.report.plotting import plt, save_figure
from nnscope.report.records import figure


def as_array(values) -> np.ndarray:
    """A float array from a list that may hold None (log10 of an exact zero)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def longest(rows: list[dict]) -> list[dict]:
    """The rows measured on the longest sequences."""
    length = max(r["length"] for r in rows)
    return [r for r in rows if r["length"] == length]


def gradient_norm_figure(result: dict, path: str | Path) -> Path:
    """The gradient norms through time (`draw_gradient_norms`) saved to `path`."""
    return save_figure(draw_gradient_norms(result), path)


def draw_gradient_norms(result: dict):
    """log10 ||dL/dh(t)|| against steps back: the RNN at each spectral radius beside the LSTM at each forget bias."""
    grads = result["gradients"]
    rnn, lstm = longest(grads["rnn"]), longest(grads["lstm"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(rnn)))
    for r, colour in zip(rnn, colours):
        curve = as_array(r["log10"]["dL_dh"])
        left.plot(np.arange(len(curve)), curve, color=colour, lw=1.6,
                  label=f"radius {r['spectral_radius']:g}: x{r['rate']['factor_per_step']:.3f}/step")
    colours = plt.get_cmap("plasma")(np.linspace(0, 0.8, len(lstm)))
    for r, colour in zip(lstm, colours):
        right.plot(as_array(r["log10"]["dL_ds_cell"]), color=colour, lw=1.8,
                   label=f"b_f = {r['forget_bias']:g}: cell dL/ds, x{r['cell_rate']['factor_per_step']:.3f}/step")
        right.plot(as_array(r["log10"]["dL_dh"]), color=colour, lw=1, ls="--", label=f"b_f = {r['forget_bias']:g}: dL/dh")
    T, weights = rnn[0]["length"], grads["lstm_weights"]
    shared = f"{', '.join(weights['from_rnn'])} as the RNN's (W at radius {weights['W_spectral_radius']:g})"
    for ax, title in ((left, f"vanilla RNN (eqs. 10.8-10.11), T = {T}"), (right, f"LSTM, T = {T}, {shared}")):
        ax.axhline(0, color="grey", lw=0.6)
        ax.axvline(grads["far"], color="grey", lw=0.8, ls=":")
        ax.text(grads["far"], ax.get_ylim()[1], f" k = {grads['far']}", color="grey", va="top", fontsize=8)
        ax.set_xlabel("steps back from the end, tau - t")
        ax.set_xlim(0, T - 1)  # no negative tick to collide with the y labels or the next panel
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    left.set_ylabel("log10 ||dL/dh(t)||  (right: also log10 ||dL/ds(t)||)")
    fig.suptitle("Gradient norm through time: a slope below 0 vanishes, above 0 explodes")
    return fig


def gradient_share_figure(result: dict, path: str | Path) -> Path:
    """Per spectral radius: the share of dL/dW, dL/dU, dL/db from the far past, and each gradient's norm."""
    grads = result["gradients"]
    rows = longest(grads["rnn"])
    zero = rows[0]["far_share_zero_by_construction"]  # V and c: 0 by construction, not measured: not drawn left
    measured = [name for name in ("W", "U", "b", "V", "c") if name not in zero]
    names = measured + list(zero)
    x = np.arange(len(rows))
    colours = dict(zip(names, plt.get_cmap("tab10").colors))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / len(measured)
    for i, name in enumerate(measured):
        shares = [100 * r["far_share"][name] for r in rows]
        bars = left.bar(x + (i - (len(measured) - 1) / 2) * width, shares, width, color=colours[name], label=f"dL/d{name}")
        # upright numbers side by side would collide (5 radii x 3 bars): each label stands on its bar
        left.bar_label(bars, [f"{v:.0f}" if v >= 1 else f"{v:.1g}" for v in shares], fontsize=7, padding=2, rotation=90)
    left.text(0.99, 0.97, f"dL/d{' and dL/d'.join(zero)}: 0 by construction\n(they act on h(tau) alone)",
              transform=left.transAxes, ha="right", va="top", fontsize=8, color="dimgrey")
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        norms = as_array([r["log10_gradient_norm"][name] for r in rows])
        bars = right.bar(x + (i - (len(names) - 1) / 2) * width, norms, width, color=colours[name], label=f"dL/d{name}")
        right.bar_label(bars, [f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}" for v in norms], fontsize=7, padding=2,
                        rotation=90)
    labels = [f"{r['spectral_radius']:g}" for r in rows]
    left.set_ylabel(f"% from inputs more than {grads['far']} steps back")
    left.set_ylim(0, 135)
    right.set_ylabel("log10 ||gradient||  (bar labels: the value)")
    right.axhline(0, color="grey", lw=0.6)
    right.margins(y=0.25)
    for ax in (left, right):
        ax.set_xticks(x, labels)
        ax.set_xlabel("spectral radius of W")
        ax.grid(alpha=0.3, axis="y")
    left.legend(fontsize=8, loc="upper left")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars go up and down
    left.set_title("far past's share of each gradient")
    right.set_title(f"gradient norms, T = {rows[0]['length']}")
    return save_figure(fig, path)


def median_accuracy(row: dict) -> float:
    """The median test accuracy over a trained setup's seeds (the line drawn; the seeds are the dots)."""
    return float(np.median(row["test_accuracy"]))


def lstm_label(row: dict) -> str:
    """The legend name of a trained LSTM setup."""
    return f"LSTM, b_f = {row['forget_bias']:g}"


TRAINED_COLOURS = ("tab:red", "tab:orange", "tab:purple", "tab:brown")  # one per trained LSTM forget bias


def trained_setups(trained: dict) -> list[tuple[str, str, list[dict]]]:
    """(label, colour, rows by distance) of the RNN and of each trained LSTM forget bias."""
    setups = [("RNN", "tab:blue", trained["rnn"])]
    for bias, colour in zip(trained["forget_biases"], TRAINED_COLOURS):
        rows = [r for r in trained["lstm"] if r["forget_bias"] == bias]
        setups.append((lstm_label(rows[0]), colour, rows))
    return setups


def accuracy_figure(result: dict, path: str | Path) -> Path:
    """Test accuracy against motif distance: the ESN beside the RNNs and LSTMs trained by BPTT, and the echo-state check."""
    esn, trained = result["esn"], result["trained"]
    fig, (ax, check) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    rows = esn["accuracy"]
    d = [r["distance"] for r in rows]
    ax.plot(d, [r["final"]["test_accuracy"] for r in rows], "o-", color="tab:green", label="ESN, readout of h(tau)")
    ax.plot(d, [r["mean"]["test_accuracy"] for r in rows], "s--", color="tab:olive", ms=4, label="ESN, readout of mean h")
    for label, colour, setup in trained_setups(trained):
        ax.plot([r["distance"] for r in setup], [median_accuracy(r) for r in setup], "^-", color=colour, lw=2,
                label=f"{label} by BPTT (median; dots: seeds)")
        for r in setup:
            ax.plot([r["distance"]] * len(r["test_accuracy"]), r["test_accuracy"], ".", color=colour, alpha=0.5)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xticks(d, [str(v) for v in d])
    ax.set_ylim(0.3, 1.05)
    ax.set_xlabel("motif distance from the end (residues)")
    ax.set_ylabel("test accuracy")
    b = trained["budget"]
    ax.set_title(f"T = {trained['length']}; BPTT budget {b['updates']} updates x {b['batch_size']} sequences")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    spread = as_array(esn["check"]["spread"])
    check.semilogy(np.arange(1, len(spread) + 1), np.where(spread > 0, spread, np.nan), color="tab:green")
    check.axhline(esn["check"]["tolerance"], color="grey", ls=":", lw=0.8)
    check.set_xlim(1, len(spread))
    check.set_xlabel("step t")
    check.set_ylabel("largest distance between states")
    check.set_title("echo-state check, 8 starts: " + ("holds" if esn["check"]["holds"] else "FAILS"), fontsize=10, pad=10)
    check.grid(alpha=0.3)
    return save_figure(fig, path)


def learning_curve_figure(result: dict, path: str | Path) -> Path:
    """Test accuracy during training, one thin line per seed: a short distance beside the longest one."""
    trained = result["trained"]
    distances = sorted({r["distance"] for r in trained["rnn"]})
    # the longest distance, beside the shortest one beyond 0 (or the shortest, when there are only two)
    shown = [distances[1] if len(distances) > 2 else distances[0], distances[-1]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    updates = trained["curve_updates"]
    for ax, distance in zip(axes, shown):
        for label, colour, setup in trained_setups(trained):
            row = next(r for r in setup if r["distance"] == distance)
            curves = np.asarray(row["test_curve"], dtype=float)  # (seeds, points)
            for i, curve in enumerate(curves):
                ax.plot(updates, curve, color=colour, lw=1.2, alpha=0.8, label=label if i == 0 else None)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0.3, 1.05)
        ax.set_xlim(0, updates[-1])
        ax.set_xlabel("Adam updates")
        ax.set_title(f"motif distance {distance}, T = {trained['length']}, {trained['seeds']} seeds each")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("test accuracy (chance 0.5)")
    return save_figure(fig, path)


FIGURES = {  # file name -> (draw, alt text, caption)
    "longseq_gradient_norms.png": (
        gradient_norm_figure,
        "Log-scale curves of the gradient norm ||dL/dh(t)|| from the last step back to the first, for the RNN at "
        "several spectral radii of W and the LSTM at several forget-gate biases.",
        "4.1 and 4.3: how far back the gradient reaches."),
    "longseq_gradient_shares.png": (
        gradient_share_figure,
        "Share of dL/dW, dL/dU and dL/db that comes from inputs far before the end, against the spectral radius "
        "(dL/dV and dL/dc: 0 by construction), beside the norm of every gradient.",
        "4.1: which parameters learn from the far past."),
    "longseq_accuracy.png": (
        accuracy_figure,
        "Test accuracy against the distance of the motif from the end for the echo state network, vanilla RNNs "
        "and LSTMs trained with the same budget (median over seeds, each seed a dot), and the echo-state check.",
        "4.2 and 4.3: who solves the task, and where the reservoir's memory ends."),
    "longseq_learning_curves.png": (
        learning_curve_figure,
        "Test accuracy against Adam updates for each seed of the RNN and the LSTM, at a short and at the longest "
        "motif distance.",
        "4.3: the learning curves of the same budget."),
}


def run_longseq_figures(model=None, data=None, options=None, out: str | Path | None = None,
                        progress=None) -> LongSeqResult | FastaESNResult:
    """The report's stage of Problem 4 and the command's: `run_longseq`, then (with `out`) its figures drawn
    into `out`."""
    from nnscope.options.longseq import LongSeqOptions
    from nnscope.outputs import check_output_dir
    from nnscope.recurrent.longseq_study import run_longseq
    from nnscope.report.drawing import save_figures

    out = None if out is None else check_output_dir("--out", out)  # before the work, not after it
    result = run_longseq(model, data, options or LongSeqOptions(), progress=progress)
    if out is not None:
        save_figures(result, out)
    return result


def longseq_figures(result: dict, out: str | Path) -> list[dict]:
    """Write every Problem 4 figure into folder `out`; their records (file relative to `out`, alt, caption)."""
    out = Path(out)
    records = []
    for name, (draw, alt, caption) in FIGURES.items():
        draw(result, out / name)
        records.append(figure(out, out / name, alt, caption))
    return records


@drawing_of.register
def _(result: LongSeqResult):
    return draw_gradient_norms(result)


@saved_figures.register
def _(result: LongSeqResult, out: Path) -> list[dict]:
    return longseq_figures(result, out)


@drawing_of.register
def _(result: FastaESNResult):
    fig, ax = plt.subplots(figsize=(5, 2.6))
    kinds = ("final", "mean")
    for k, (split, colour) in enumerate((("train_accuracy", "tab:gray"), ("test_accuracy", "tab:blue"))):
        values = [result[kind][split] for kind in kinds]
        ax.bar(np.arange(2) + (k - 0.5) * 0.36, values, width=0.34, color=colour, label=split.replace("_", " "))
        for x, value in zip(np.arange(2) + (k - 0.5) * 0.36, values):
            ax.text(x, value, f"{value:.0%}", ha="center", va="bottom", fontsize=8)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(2), ["readout on the final state", "readout on the mean state"], fontsize=9)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("accuracy")
    ax.set_title(f"echo state network on {Path(result.fasta).name}: {result.train} train / {result.test} test",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return fig


@saved_figures.register
def _(result: FastaESNResult, out: Path) -> list[dict]:
    return []  # --fasta: the numbers only
