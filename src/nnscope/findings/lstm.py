"""The sentences of Problem 5 (`nnscope lstm`): why the biases are what they are, and what they give."""

import numpy as np

from nnscope.findings.rnn import vector

GATE_MATRICES = ("U_f", "W_f", "U_g", "W_g", "U_o", "W_o")  # those a parameter file may give; else U or W serve


def bias_choice(r: dict) -> list[str]:
    """Why the gate biases are what they are, stated with the gate values measured on this sequence."""
    steps, biases, rest = r["steps"], r["biases"], r["gates_with_zero_input"]

    def span(key: str) -> str:
        values = np.array([s[key] for s in steps])
        return f"{values.min():.3f} to {values.max():.3f}"

    def opening(gate: str) -> str:
        values = np.asarray(rest[gate])
        return f"{values[0]:.4f}" if np.ptp(values) == 0 else vector(values, ".4f")

    keep = np.asarray(rest["f"])
    forget = (f"forget gate: σ(b_f) = {opening('f')}, so with x = 0 and h(t-1) = 0 the cell keeps "
              f"{keep.min():.0%}" + (f" to {keep.max():.0%}" if np.ptp(keep) else "") + " of s(t-1) per step. ")
    if np.all(np.asarray(biases["b_f"]) == 1.0):
        forget += ("b_f = 1 opens the gate from the start, so the state and its gradient flow back through "
                   "s(t) before anything is learned (Jozefowicz, Zaremba and Sutskever 2015). ")
    else:
        forget += "b_f comes from the parameter file (the default b_f = 1 opens the gate from the start). "
    gates = f"input and output gates: σ(b_g) = {opening('g')}, σ(b_o) = {opening('q')}. "
    if np.all(np.asarray(biases["b_g"]) == 0.0) and np.all(np.asarray(biases["b_o"]) == 0.0):
        gates += "b_g = b_o = 0 leaves them half open, neither blocking nor saturated: the data decide. "
    else:
        gates += "b_g and b_o come from the parameter file (the default 0 leaves them half open). "
    shared = r["shared_gate_matrices"]
    sharing = "U and W serve every gate" if len(shared) == len(GATE_MATRICES) else \
        f"U and W serve {', '.join(shared) or 'no gate matrix'}; the file gives the others"
    return [
        forget + f"Measured f(t) on this sequence: {span('f')}.",
        gates + f"Measured g(t): {span('g')}, q(t): {span('q')}.",
        f"cell input: b, U, W, c, V and x as given ({sharing}), so the loss compares with the RNN's on the "
        f"same parameters; cell activation {r['cell_activation']} (the book's eq. 10.41 uses sigmoid, tanh is "
        f"the common variant); measured cell input: {span('cell_input')}.",
    ]


def describe_lstm(r: dict) -> list[str]:
    """Sentences built from an `lstm_solution` result (the bias explanation first)."""
    T = r["sizes"]["T"]
    g, fd = r["grad_b_f_bptt"], r["grad_b_f_finite_difference"]
    y = r["outputs"][-1]
    lower = "lower" if r["loss"] < r["rnn_loss_same_parameters"] else "higher"
    return [*bias_choice(r),
            f"With these biases y({T}) = [{y[0]:.8f}, {y[1]:.8f}] and L = {r['loss']:.12g}, {lower} than the "
            f"RNN's {r['rnn_loss_same_parameters']:.12g} on the same b, c, U, W, V and sequence.",
            f"Unfolding through time gives dL/db_f = {vector(g, '.9g')}; central differences give "
            f"{vector(fd, '.9g')} (relative error {r['bptt_vs_finite_difference_relative_error']:.1e})."]
