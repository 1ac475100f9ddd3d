"""Figures of Problem 4, drawn from the plain result of `run_longseq` (nothing is computed here
but what a plot needs: the rows to draw and their order).

Gradient norms span hundreds of decades (10^-1500 is below what float64 holds), so they are drawn
as log10 values on a linear axis rather than on a matplotlib log axis.
"""

from pathlib import Path

import numpy as np

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
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    left.set_ylabel("log10 ||dL/dh(t)||  (right: also log10 ||dL/ds(t)||)")
    fig.suptitle("Gradient norm through time: a slope below 0 vanishes, above 0 explodes")
    return save_figure(fig, path)


def gradient_share_figure(result: dict, path: str | Path) -> Path:
    """Per spectral radius: the share of each gradient from the far past, and each gradient's norm."""
    grads = result["gradients"]
    rows = longest(grads["rnn"])
    names = ["W", "U", "b", "V", "c"]
    x = np.arange(len(rows))
    width = 0.8 / len(names)
    colours = plt.get_cmap("tab10").colors
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    zero = rows[0]["far_share_zero_by_construction"]  # V and c: 0 by construction, not measured
    for i, name in enumerate(names):
        shares = [100 * r["far_share"][name] for r in rows]
        norms = as_array([r["log10_gradient_norm"][name] for r in rows])
        bars = left.bar(x + (i - 2) * width, shares, width, color=colours[i], label=f"dL/d{name}")
        labels = ["0 by construction" if name in zero else f"{v:.0f}" if v >= 1 else f"{v:.1g}" for v in shares]
        left.bar_label(bars, labels, fontsize=6, rotation=90, padding=2)
        bars = right.bar(x + (i - 2) * width, norms, width, color=colours[i], label=f"dL/d{name}")
        right.bar_label(bars, [f"{v:.1f}" for v in norms], fontsize=6, rotation=90, padding=2)
    labels = [f"{r['spectral_radius']:g}" for r in rows]
    left.set_ylabel(f"% from inputs more than {grads['far']} steps back")
    left.set_ylim(0, 115)
    right.set_ylabel("log10 ||gradient||  (bar labels: the value)")
    right.axhline(0, color="grey", lw=0.6)
    right.margins(y=0.12)
    for ax in (left, right):
        ax.set_xticks(x, labels)
        ax.set_xlabel("spectral radius of W")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    left.set_title(f"far past's share ({' and '.join(zero)} are read at tau only: 0 by construction)")
    right.set_title(f"gradient norms, T = {rows[0]['length']}")
    return save_figure(fig, path)


def accuracy_figure(result: dict, path: str | Path) -> Path:
    """Test accuracy against motif distance: ESN (final and mean state) beside the RNN and LSTM trained by BPTT."""
    esn, trained = result["esn"], result["trained"]
    fig, (ax, check) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    lengths = sorted({r["length"] for r in esn["accuracy"]})
    for length, style in zip(lengths, ["-", "--", ":", "-."] * 4):
        rows = [r for r in esn["accuracy"] if r["length"] == length]
        d = [r["distance"] for r in rows]
        ax.plot(d, [r["final"]["test_accuracy"] for r in rows], "o" + style, color="tab:green",
                label=f"ESN, final state, T = {length}")
        ax.plot(d, [r["mean"]["test_accuracy"] for r in rows], "s" + style, color="tab:olive", ms=4,
                label=f"ESN, mean state, T = {length}")
    for kind, colour in (("rnn", "tab:blue"), ("lstm", "tab:red")):
        rows = trained[kind]
        ax.plot([r["distance"] for r in rows], [r["test_accuracy"] for r in rows], "^-", color=colour, lw=2,
                label=f"{kind.upper()} by BPTT, T = {trained['length']}")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("symlog", linthresh=10)
    distances = sorted({r["distance"] for r in esn["accuracy"]})
    ax.set_xticks(distances, [str(d) for d in distances])
    ax.minorticks_off()
    ax.set_ylim(0.3, 1.03)
    ax.set_xlabel("motif distance from the end (residues)")
    ax.set_ylabel("test accuracy")
    b = trained["budget"]
    ax.set_title(f"same data; BPTT budget {b['updates']} updates x {b['batch_size']} sequences")
    ax.grid(alpha=0.3)
    ax.set_xlim(-0.5, max(distances) * 1.2)
    ax.legend(fontsize=8, loc="lower left", ncol=2, framealpha=0.9)
    spread = as_array(esn["check"]["spread"])
    check.semilogy(np.arange(1, len(spread) + 1), np.where(spread > 0, spread, np.nan), color="tab:green")
    check.axhline(esn["check"]["tolerance"], color="grey", ls=":", lw=0.8)
    check.set_xlabel("step t")
    check.set_ylabel("largest distance between states")
    check.set_title("echo-state check: 8 random starts, one input: " + ("holds" if esn["check"]["holds"] else "FAILS"))
    check.grid(alpha=0.3)
    return save_figure(fig, path)


FIGURES = {  # file name -> (draw, alt text, caption)
    "longseq_gradient_norms.png": (
        gradient_norm_figure,
        "Log-scale curves of the gradient norm ||dL/dh(t)|| from the last step back to the first, for the RNN at "
        "several spectral radii of W and the LSTM at several forget-gate biases.",
        "4.1 and 4.3: how far back the gradient reaches."),
    "longseq_gradient_shares.png": (
        gradient_share_figure,
        "Share of dL/dW and dL/dU that comes from inputs far before the end, against the spectral radius, beside "
        "dL/dV and dL/dc, whose share is 0 by construction.",
        "4.1: which parameters learn from the far past."),
    "longseq_accuracy.png": (
        accuracy_figure,
        "Test accuracy against the distance of the motif from the end for the echo state network, a vanilla RNN "
        "and an LSTM trained with the same budget.",
        "4.2 and 4.3: who solves the task."),
}


def longseq_figures(result: dict, out: str | Path) -> list[dict]:
    """Write every Problem 4 figure into folder `out`; their records (file relative to `out`, alt, caption)."""
    out = Path(out)
    records = []
    for name, (draw, alt, caption) in FIGURES.items():
        draw(result, out / name)
        records.append(figure(out, out / name, alt, caption))
    return records
