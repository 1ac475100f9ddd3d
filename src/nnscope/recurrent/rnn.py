"""The recurrent network of DL book eqs. 10.8-10.11 and back-propagation through time by hand.

    a(t) = b + W h(t-1) + U x(t)      h(t) = tanh(a(t))
    o(t) = c + V h(t)                 y(t) = softmax(o(t))        L = (y_1(T) - 0.5)^2 - log y_2(T)

The step functions take row vectors (a = b + h_prev @ W.T + x @ U.T) with an optional leading
batch dimension, and work on numpy float64 arrays and torch tensors alike. The whole-sequence
functions run one sequence in numpy float64 and keep every intermediate for the worked solution.
"""

from dataclasses import dataclass, field

import numpy as np

from nnscope.findings.rnn import describe_rnn
from nnscope.options.rnn import RNNOptions
from nnscope.recurrent import ops
from nnscope.recurrent.gradcheck import parameter_gradient, relative_error
from nnscope.recurrent.graph import rnn_graph
from nnscope.recurrent.output import (custom_loss, custom_loss_backward, output_backward, output_forward,
                                      require_finite)
from nnscope.recurrent.params import RNNParams, load_rnn_params
from nnscope.results import Result


def rnn_step_forward(W, U, b, h_prev, x):
    """One step: (n, n), (n, d), (n,), (..., n), (..., d) -> a (..., n), h (..., n)."""
    a = b + h_prev @ W.T + x @ U.T
    return a, ops.tanh(a)


def rnn_step_backward(W, h_prev, x, h, dh):
    """dL/dh(t) (..., n) -> dL/da(t), dL/dh(t-1), dW, dU, db (parameter grads summed over the batch)."""
    da = dh * (1.0 - h * h)  # tanh'(a) = 1 - tanh(a)^2
    return da, da @ W, ops.outer_sum(da, h_prev), ops.outer_sum(da, x), ops.batch_sum(da)


@dataclass
class RNNForward:
    """Every forward intermediate of one sequence."""

    a: np.ndarray  # (T, n) pre-activations a(1..T)
    h: np.ndarray  # (T + 1, n) states h(0..T); h[t] is h(t)
    o: np.ndarray  # (T, 2) output scores o(1..T)
    y: np.ndarray  # (T, 2) softmax outputs y(1..T)
    loss: float  # L on the last step


@dataclass
class RNNBackward:
    """Reverse-mode intermediates; row t-1 of each (T, n) array belongs to time step t."""

    dL_dy: np.ndarray  # (2,) dL/dy(T)
    dL_do: np.ndarray  # (2,) dL/do(T)
    dL_dh: np.ndarray  # (T, n) dL/dh(t), the total through o(T) and through a(t+1)
    dL_da: np.ndarray  # (T, n) dL/da(t); step t's contribution to dL/db
    grads: dict[str, np.ndarray]  # dL/d(b, c, W, U, V), each shaped like its parameter


def rnn_forward(p: RNNParams) -> RNNForward:
    """Run the sequence x(1..T) from h(0)."""
    T = len(p.x)
    a, h = [], [p.h0]
    for t in range(T):
        a_t, h_t = rnn_step_forward(p.W, p.U, p.b, h[-1], p.x[t])
        a.append(a_t)
        h.append(h_t)
    h = np.array(h)
    o, y = output_forward(p.V, p.c, h[1:])  # (T, 2): outputs at every step, the loss reads the last
    return RNNForward(a=np.array(a), h=h, o=o, y=y, loss=float(custom_loss(y[-1])))


def rnn_backward(p: RNNParams, fwd: RNNForward) -> RNNBackward:
    """Reverse mode: dL/do(T), then dL/dh(t) and dL/da(t) from t = T down to 1."""
    T, n = len(p.x), len(p.b)
    dL_dy, dL_do = custom_loss_backward(fwd.y[-1])
    dh, dV, dc = output_backward(p.V, fwd.h[T], dL_do)  # only o(T) enters the loss
    grads = {"b": np.zeros(n), "c": dc, "W": np.zeros_like(p.W), "U": np.zeros_like(p.U), "V": dV}
    dL_dh, dL_da = np.zeros((T, n)), np.zeros((T, n))
    for t in reversed(range(T)):  # t indexes time step t + 1
        dL_dh[t] = dh
        da, dh, dW, dU, db = rnn_step_backward(p.W, fwd.h[t], p.x[t], fwd.h[t + 1], dh)
        dL_da[t] = da
        grads["W"] += dW
        grads["U"] += dU
        grads["b"] += db
    return RNNBackward(dL_dy=dL_dy, dL_do=dL_do, dL_dh=dL_dh, dL_da=dL_da, grads=grads)


def rnn_sensitivities(p: RNNParams, fwd: RNNForward) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward mode: da(t)/db and dh(t)/db (T, n, n) carried from t = 1 up, and dL/db from them.

    da(t)/db = I + W dh(t-1)/db (dh(0)/db = 0),  dh(t)/db = diag(1 - h(t)^2) da(t)/db,
    dL/db = (dh(T)/db)^T dL/dh(T)."""
    T, n = len(p.x), len(p.b)
    da_db, dh_db = np.zeros((T, n, n)), np.zeros((T, n, n))
    previous = np.zeros((n, n))  # dh(0)/db: h(0) does not depend on b
    for t in range(T):
        da_db[t] = np.eye(n) + p.W @ previous
        dh_db[t] = (1.0 - fwd.h[t + 1] ** 2)[:, None] * da_db[t]
        previous = dh_db[t]
    _, dL_do = custom_loss_backward(fwd.y[-1])
    dL_dh_T = dL_do @ p.V
    return da_db, dh_db, dh_db[-1].T @ dL_dh_T


def rnn_loss(p: RNNParams) -> float:
    """The loss alone (for central differences)."""
    return rnn_forward(p).loss


@np.errstate(all="ignore")  # overflow is reported once, by require_finite
def rnn_solution(p: RNNParams) -> dict:
    """Problem 3 (1)-(5) for any parameters: outputs, loss, dL/db three ways, all grads, one step on b."""
    fwd = rnn_forward(p)
    bwd = rnn_backward(p, fwd)
    da_db, dh_db, grad_b_forward = rnn_sensitivities(p, fwd)
    grad_b_fd = parameter_gradient(p, rnn_loss, "b")
    b_after = p.b - p.learning_rate * bwd.grads["b"]
    T = len(p.x)
    loss_after = rnn_loss(p.with_value("b", b_after))
    steps = [{
        "t": t + 1, "x": p.x[t], "a": fwd.a[t], "h": fwd.h[t + 1], "o": fwd.o[t], "y": fwd.y[t],
        "dL_dh": bwd.dL_dh[t], "dL_da": bwd.dL_da[t], "dL_db_contribution": bwd.dL_da[t],
        "dL_db_sum_from_T_down_to_t": bwd.dL_da[t:].sum(0), "da_db": da_db[t], "dh_db": dh_db[t],
    } for t in range(T)]
    return require_finite({
        "network": "rnn", "sizes": p.sizes, "h0": p.h0, "epsilon": p.epsilon, "learning_rate": p.learning_rate,
        "outputs": fwd.y, "loss": fwd.loss,
        "dL_dy_T": bwd.dL_dy, "dL_do_T": bwd.dL_do,
        "grad_b_finite_difference": grad_b_fd, "grad_b_bptt": bwd.grads["b"],
        "grad_b_forward_mode": grad_b_forward,
        "bptt_vs_finite_difference_relative_error": relative_error(bwd.grads["b"], grad_b_fd),
        "reverse_vs_forward_mode_relative_error": relative_error(bwd.grads["b"], grad_b_forward),
        "grads": bwd.grads, "b_before_step": p.b, "b_after_step": b_after,
        "loss_after_step": loss_after,
        # L(b - eta g) - L(b) to first order: -eta ||g||^2
        "loss_change_first_order_prediction": -p.learning_rate * float(np.sum(bwd.grads["b"] ** 2)), "steps": steps,
        "graph": rnn_graph(p, {"loss_after_step": loss_after, "grad_b_finite_difference": grad_b_fd}, fwd, bwd),
    })


@dataclass
class RNNResult(Result):
    """Problem 3 worked for one set of parameters: the forward pass, dL/db three ways, every gradient, one step
    on b; `steps` holds every intermediate of each time step, `graph` the unrolled graph's nodes."""

    title = "RNN: backpropagation through time by hand"
    network: str  # 'rnn'
    sizes: dict  # n hidden units, d inputs, T steps
    h0: np.ndarray
    epsilon: float  # of the central differences
    learning_rate: float  # of the step on b
    outputs: np.ndarray  # (T, 2) y(1..T)
    loss: float
    dL_dy_T: np.ndarray
    dL_do_T: np.ndarray
    grad_b_finite_difference: np.ndarray
    grad_b_bptt: np.ndarray
    grad_b_forward_mode: np.ndarray
    bptt_vs_finite_difference_relative_error: float
    reverse_vs_forward_mode_relative_error: float
    grads: dict  # dL/d(b, c, W, U, V)
    b_before_step: np.ndarray
    b_after_step: np.ndarray
    loss_after_step: float
    loss_change_first_order_prediction: float  # -eta ||g||^2
    steps: list  # per time step: x, a, h, o, y, dL/dh, dL/da, shares of dL/db, da/db, dh/db
    graph: dict = field(repr=False)  # the unrolled graph (the report's, the live page's and the widget's)
    finding: list[str] = field(default_factory=list)
    figures: list = field(default_factory=list)  # none are saved; figure() draws the main one

    def key_numbers(self) -> list[tuple[str, object]]:
        n, d, T = (self.sizes[k] for k in "ndT")
        return [("n, d, T", f"{n}, {d}, {T}"), ("loss L", self.loss),
                ("dL/db: BPTT vs central differences (relative error)", self.bptt_vs_finite_difference_relative_error),
                ("dL/db: reverse vs forward mode (relative error)", self.reverse_vs_forward_mode_relative_error),
                (f"L after one step on b (learning rate {self.learning_rate:g})", self.loss_after_step)]


def run_rnn(model=None, data=None, options: RNNOptions = RNNOptions(), out=None, progress=None) -> RNNResult:
    """Problem 3 (`nnscope rnn`): the worked solution of the options' parameters and its `finding`;
    `model`, `data`, `out` and `progress` are unused (one signature for the report's stages; no figures are
    saved, `figure()` draws one)."""
    options.check()
    solution = rnn_solution(load_rnn_params(options.params))
    return RNNResult(**solution, finding=describe_rnn(solution))
