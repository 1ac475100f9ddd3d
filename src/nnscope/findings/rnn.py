"""The sentences of Problem 3 (`nnscope rnn`), built from the numbers of `run_rnn`'s result."""

import numpy as np


def describe_rnn(r: dict) -> list[str]:
    """Sentences built from an `rnn_solution` result: the loss, dL/db checked, the step on b."""
    T = r["sizes"]["T"]
    g, fd = np.asarray(r["grad_b_bptt"]), np.asarray(r["grad_b_finite_difference"])
    lr, drop = r["learning_rate"], r["loss"] - r["loss_after_step"]
    predicted = -r["loss_change_first_order_prediction"]  # eta * |dL/db|^2, the predicted decrease
    big = int(np.argmax(np.abs(g)))
    ratio = abs(g[big]) / max(abs(g[1 - big]), 1e-300) if len(g) == 2 else float("nan")
    y1, y2 = r["outputs"][-1]
    square, log_term = (y1 - 0.5) ** 2, -np.log(y2)
    larger = f"-log y_2({T})" if log_term > square else f"(y_1({T}) - 0.5)²"
    lines = [
        f"On the last step y({T}) = [{y1:.8f}, {y2:.8f}], so L = (y_1 - 0.5)² - log y_2 = {square:.6f} + "
        f"{log_term:.6f} = {r['loss']:.12g}; the larger term is {larger}.",
        f"Unfolding through time gives dL/db = {vector(g, '.9g')}; central differences with "
        f"ε = {r['epsilon']:g} give {vector(fd, '.9g')}: relative error "
        f"{r['bptt_vs_finite_difference_relative_error']:.1e}; reverse and forward mode agree to "
        f"{r['reverse_vs_forward_mode_relative_error']:.1e}.",
    ]
    if len(g) == 2:
        lines.append(f"b_{big + 1} matters most: |dL/db_{big + 1}| is {ratio:.1f} times |dL/db_{2 - big}|.")
    lines.append(
        f"One gradient step with learning rate {lr:g} moves b from {vector(r['b_before_step'], '.4f')} to "
        f"{vector(r['b_after_step'], '.8f')}; the loss goes from {r['loss']:.11f} to {r['loss_after_step']:.11f}, "
        f"{'down' if drop > 0 else 'up'} by {abs(drop):.3e} (first-order prediction η‖dL/db‖² = {predicted:.3e}).")
    return lines


def vector(v, fmt: str) -> str:
    """[a, b, ...] with each entry in format `fmt`."""
    return "[" + ", ".join(f"{x:{fmt}}" for x in v) + "]"
