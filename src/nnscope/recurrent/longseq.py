"""Vanishing and exploding gradients over thousands of steps, measured with the hand-written BPTT
steps of rnn.py and lstm.py, run on a batch of sequences at once in torch float64.

The loss is the cross-entropy of the softmax output on the last step tau. Back-propagation is
linear in dL/dh, so the backward pass keeps dL/dh scaled to norm 1 whenever it leaves
[1e-100, 1e100] and carries the scale as a base-10 logarithm: every norm below is exact even
where plain float64 would give 0 or infinity. Curves are indexed by steps back s = tau - t,
s = 0 being the last step.
"""

import math

import numpy as np
import torch

from nnscope.recurrent.lstm import CELL_KEYS, lstm_step_backward, lstm_step_forward
from nnscope.recurrent.output import output_backward, output_forward
from nnscope.recurrent.rnn import rnn_step_backward, rnn_step_forward
from nnscope.recurrent.sequences import AMINO_ACIDS, one_hot

RESCALE = 1e100  # bring dL/dh back to norm 1 once it is this large or this many times smaller
LSTM_CELL_ACTIVATION = "tanh"  # the cell input squashed as the RNN's state is (the book's eq. 10.41: sigmoid)
# V and c act on h(tau) alone: no input before the last step reaches their gradient, so their far-past
# share is 0 by construction, written as such, not measured
ZERO_BY_CONSTRUCTION = ("V", "c")


def random_rnn(hidden: int, spectral_radius: float, input_scaling: float, seed: int) -> dict[str, torch.Tensor]:
    """W (scaled to `spectral_radius`), U, b = 0, V, c = 0 of eqs. 10.8-10.11 for 20 inputs, float64."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(hidden, hidden, generator=g, dtype=torch.float64)
    W *= spectral_radius / torch.linalg.eigvals(W).abs().max()
    U = torch.randn(hidden, len(AMINO_ACIDS), generator=g, dtype=torch.float64) * input_scaling
    V = torch.randn(2, hidden, generator=g, dtype=torch.float64) / math.sqrt(hidden)
    return {"W": W, "U": U, "b": torch.zeros(hidden, dtype=torch.float64), "V": V,
            "c": torch.zeros(2, dtype=torch.float64)}


def random_lstm(hidden: int, forget_bias: float, input_scaling: float, seed: int,
                rnn: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The twelve LSTM cell arrays (gate matrices N(0, 1/hidden), biases 0 but b_f) plus V, c; float64.

    With `rnn` (a `random_rnn`), the cell input's U, W and the readout V are that RNN's own draws, so the
    LSTM and the RNN differ in the gates alone."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for key in CELL_KEYS:  # same seed, same draws: two LSTMs differ only in b_f
        if key.startswith("W"):
            params[key] = torch.randn(hidden, hidden, generator=g, dtype=torch.float64) / math.sqrt(hidden)
        elif key.startswith("U"):
            params[key] = torch.randn(hidden, len(AMINO_ACIDS), generator=g, dtype=torch.float64) * input_scaling
        else:
            params[key] = torch.zeros(hidden, dtype=torch.float64)
    params["b_f"] += forget_bias
    params["V"] = torch.randn(2, hidden, generator=g, dtype=torch.float64) / math.sqrt(hidden)
    params["c"] = torch.zeros(2, dtype=torch.float64)
    if rnn is not None:
        params.update(U=rnn["U"], W=rnn["W"], V=rnn["V"])
    return params


def cross_entropy_output(V, c, h, labels) -> tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of y(tau) = softmax(c + V h(tau)); returns L, dL/dh(tau), dL/dV, dL/dc."""
    _, y = output_forward(V, c, h)  # (N, 2)
    target = torch.nn.functional.one_hot(torch.as_tensor(labels), 2).to(y.dtype)
    loss = float(-(target * torch.log(y)).sum(1).mean())
    dh, dV, dc = output_backward(V, h, (y - target) / len(y))  # dL/do = (y - onehot) / N for the mean
    return loss, dh, dV, dc


class LogSum:
    """A sum of arrays given as (array, log10 scale) pairs, kept as one array and one log10 scale."""

    def __init__(self):
        self.value, self.log10_scale = None, -math.inf

    def add(self, array: torch.Tensor, log10_scale: float) -> None:
        """Add array * 10^log10_scale, rescaling whichever side is smaller (it may underflow to 0: rightly)."""
        if self.value is None:
            self.value, self.log10_scale = array.clone(), log10_scale
        elif log10_scale > self.log10_scale:
            self.value = self.value * 10.0 ** (self.log10_scale - log10_scale) + array
            self.log10_scale = log10_scale
        else:
            self.value = self.value + array * 10.0 ** (log10_scale - self.log10_scale)

    def log10_norm(self) -> float:
        """log10 of the Frobenius norm of the sum."""
        return log10_norm(self.value) + self.log10_scale


def log10_norm(a: torch.Tensor) -> float:
    """log10 of the Frobenius norm; -inf for an exact zero."""
    n = float(torch.linalg.norm(a))
    return math.log10(n) if n > 0 else -math.inf


def rescaled(grads: list[torch.Tensor], log10_scale: float) -> tuple[list[torch.Tensor], float]:
    """The same gradients scaled to joint norm 1 when they left [1/RESCALE, RESCALE], and the new scale."""
    n = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if n == 0 or 1 / RESCALE <= n <= RESCALE:
        return grads, log10_scale
    return [g / n for g in grads], log10_scale + math.log10(n)


def rnn_gradient_profile(net: dict, tokens: np.ndarray, labels: np.ndarray, far: int) -> dict:
    """||dL/dh(t)|| and each step's share of dL/dW, dL/dU for t = tau..1, and the totals of all five gradients."""
    x = one_hot(tokens)  # (T, N, 20)
    T = len(x)
    h = [torch.zeros(x.shape[1], net["W"].shape[0], dtype=torch.float64)]  # h(0) = 0, then h(1..T): (N, n)
    for t in range(T):
        h.append(rnn_step_forward(net["W"], net["U"], net["b"], h[-1], x[t])[1])
    loss, dh, dV, dc = cross_entropy_output(net["V"], net["c"], h[T], labels)
    curves = {k: np.empty(T) for k in ("dL_dh", "dW_step", "dU_step", "db_step")}  # log10 norms, by steps back
    totals = {k: LogSum() for k in ("W", "U", "b")}
    scale = 0.0  # log10 of the factor dropped from dh so far
    for s, t in enumerate(reversed(range(T))):  # h[t + 1] is h(t + 1), the state at step t + 1
        curves["dL_dh"][s] = log10_norm(dh) + scale
        _, dh_prev, dW, dU, db = rnn_step_backward(net["W"], h[t], x[t], h[t + 1], dh)
        for name, g in (("W", dW), ("U", dU), ("b", db)):
            curves[f"d{name}_step"][s] = log10_norm(g) + scale
            totals[name].add(g, scale)
        (dh,), scale = rescaled([dh_prev], scale)
    norms = {name: total.log10_norm() for name, total in totals.items()}
    norms.update(V=log10_norm(dV), c=log10_norm(dc))
    return {"loss": loss, "log10": curves, "log10_gradient_norm": norms,
            "far_share": {"W": far_share(curves["dW_step"], far), "U": far_share(curves["dU_step"], far),
                          "b": far_share(curves["db_step"], far), **dict.fromkeys(ZERO_BY_CONSTRUCTION, 0.0)},
            "far_share_zero_by_construction": list(ZERO_BY_CONSTRUCTION), "rate": decay_rate(curves["dL_dh"])}


def lstm_gradient_profile(params: dict, tokens: np.ndarray, labels: np.ndarray, far: int,
                          cell_activation: str = LSTM_CELL_ACTIVATION) -> dict:
    """||dL/dh(t)||, the gradient carried back by the cell state ||dL/ds(t)||, the forget gate, far shares."""
    x = one_hot(tokens)  # (T, N, 20)
    T, n = len(x), params["W"].shape[0]
    h = s = torch.zeros(x.shape[1], n, dtype=torch.float64)
    caches = []
    for t in range(T):
        caches.append(lstm_step_forward(params, h, s, x[t], cell_activation))
        h, s = caches[-1].h, caches[-1].s
    loss, dh, dV, dc = cross_entropy_output(params["V"], params["c"], h, labels)
    ds = torch.zeros_like(dh)  # s(tau) feeds no later step
    curves = {k: np.empty(T) for k in ("dL_dh", "dL_ds_cell", "recurrent_step", "forget_gate")}
    scale = 0.0
    for step, t in enumerate(reversed(range(T))):
        curves["dL_dh"][step] = log10_norm(dh) + scale
        grads, dh, ds = lstm_step_backward(params, caches[t], dh, ds)
        curves["dL_ds_cell"][step] = log10_norm(ds) + scale  # dL/ds(t-1) through s(t) = f(t) s(t-1) + ...
        matrices = [grads[k] for k in CELL_KEYS if k[0] in "UW"]  # every gate's U and W
        curves["recurrent_step"][step] = log10_norm(torch.cat([m.flatten() for m in matrices])) + scale
        curves["forget_gate"][step] = float(torch.log10(caches[t].f).mean())
        (dh, ds), scale = rescaled([dh, ds], scale)
    return {"loss": loss, "log10": curves, "log10_gradient_norm": {"V": log10_norm(dV), "c": log10_norm(dc)},
            "far_share": {"U_and_W": far_share(curves["recurrent_step"], far), **dict.fromkeys(ZERO_BY_CONSTRUCTION, 0.0)},
            "far_share_zero_by_construction": list(ZERO_BY_CONSTRUCTION),
            "geometric_mean_forget_gate": float(10 ** curves["forget_gate"].mean()),
            "rate": decay_rate(curves["dL_dh"]), "cell_rate": decay_rate(curves["dL_ds_cell"])}


def far_share(log10_step_norms: np.ndarray, far: int) -> float:
    """Share of sum_t ||step t's gradient|| that comes from inputs more than `far` steps before the end."""
    top = log10_step_norms.max()
    if not np.isfinite(top):  # every step's gradient is exactly zero
        return 0.0
    w = 10.0 ** (log10_step_norms - top)  # relative norms, no overflow
    return float(w[far + 1:].sum() / w.sum())


def decay_rate(log10_norms: np.ndarray) -> dict:
    """Least-squares slope of log10 ||dL/dh|| against steps back: the factor per step and per 100 steps."""
    s = np.arange(len(log10_norms))
    ok = np.isfinite(log10_norms)
    slope = float(np.polyfit(s[ok], log10_norms[ok], 1)[0]) if ok.sum() > 1 else 0.0
    return {"log10_per_step": slope, "factor_per_step": 10.0 ** slope, "decades_per_100_steps": 100 * slope,
            "log10_change_over_sequence": float(log10_norms[ok][-1] - log10_norms[ok][0]) if ok.any() else 0.0}
