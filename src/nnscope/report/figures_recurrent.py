"""The main figures of Problems 3 and 5 (`run_rnn`, `run_lstm`), for `result.figure()` in a notebook.

Both draw the gradient the problem asks for, one bar per bias entry stacked from each time step's share
(BPTT sums them from t = T down to 1), with the other computations of the same gradient marked on top;
beside it the forward pass: the outputs y(t) of the RNN, the gate values of the LSTM. Nothing is saved
(the report shows these results as the unrolled graph and its tables).
"""

import numpy as np

from nnscope.recurrent.lstm import LSTMResult
from nnscope.recurrent.rnn import RNNResult
from nnscope.report.drawing import drawing_of
from nnscope.report.plotting import SEQUENTIAL, plt

MOST_UNITS = 24  # bias entries drawn as bars; a larger network shows its first ones


def contributions_panel(ax, shares: np.ndarray, checks: dict[str, np.ndarray], name: str) -> None:
    """Bars of dL/d`name` per entry i, stacked from each step's share (shares: (T, n)); `checks` marks other
    computations of the same gradient (label -> (n,)) on top of the bars."""
    T, n = shares.shape
    units = np.arange(min(n, MOST_UNITS))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, T))
    above, below = np.zeros(len(units)), np.zeros(len(units))
    for t in range(T):
        part = shares[t, units]
        base = np.where(part >= 0, above, below)
        ax.bar(units, part, bottom=base, color=colours[t], width=0.6, label=f"step t = {t + 1}" if T <= 8 else None)
        above, below = above + np.maximum(part, 0), below + np.minimum(part, 0)
    for label, values in checks.items():
        style = {"marker": "x", "color": "black"} if label == "central differences" else \
            {"marker": "o", "facecolors": "none", "edgecolors": "black"}
        ax.scatter(units, np.asarray(values)[units], s=40, zorder=3, label=label, **style)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xticks(units, [f"{name}_{i + 1}" for i in units], fontsize=8)
    ax.set_ylabel(f"dL/d{name}")
    ax.set_title(f"dL/d{name}: each step's share (BPTT sums them)", fontsize=10)
    ax.legend(fontsize=7, loc="best")


def outputs_panel(ax, outputs: np.ndarray, loss: float) -> None:
    """y_1(t) and y_2(t) as grouped bars per step, the loss in the title."""
    T = len(outputs)
    steps = np.arange(1, T + 1)
    for k, (offset, colour) in enumerate(((-0.18, "tab:blue"), (0.18, "tab:orange"))):
        ax.bar(steps + offset, outputs[:, k], width=0.34, color=colour, label=f"y_{k + 1}(t)")
        for t, value in zip(steps, outputs[:, k]):
            ax.text(t + offset, value, f"{value:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.3)
    ax.set_xticks(steps)
    ax.set_xlabel("step t")
    ax.set_title(f"outputs y(t) = softmax(o(t)); L = {loss:.6g}", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=2)


def gates_panel(fig, ax, steps: list[dict]) -> None:
    """The forget, input and output gates of every unit (rows) at every step (columns), values written in."""
    n = len(np.atleast_1d(steps[0]["f"]))
    rows = [(f"{gate}_{i + 1}", [float(np.atleast_1d(s[gate])[i]) for s in steps])
            for gate in ("f", "g", "q") for i in range(min(n, MOST_UNITS // 3))]
    table = np.array([values for _, values in rows])
    image = ax.imshow(table, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
    if table.size <= 60:
        for (r, c), value in np.ndenumerate(table):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.5 else "white")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.set_xticks(range(len(steps)), [str(s["t"]) for s in steps])
    ax.set_xlabel("step t")
    ax.set_title("gates: forget f, input g, output q", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.05)


@drawing_of.register
def _(result: RNNResult):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), width_ratios=[3, 2])
    shares = np.array([s["dL_db_contribution"] for s in result.steps])
    contributions_panel(left, shares, {"central differences": result.grad_b_finite_difference,
                                       "forward mode": result.grad_b_forward_mode}, "b")
    outputs_panel(right, np.asarray(result.outputs), result.loss)
    fig.tight_layout()
    return fig


@drawing_of.register
def _(result: LSTMResult):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), width_ratios=[3, 2])
    shares = np.array([s["dL_db_f_contribution"] for s in result.steps])
    contributions_panel(left, shares, {"central differences": result.grad_b_f_finite_difference}, "b_f")
    gates_panel(fig, right, result.steps)
    fig.tight_layout()
    return fig
