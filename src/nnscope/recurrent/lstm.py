"""The LSTM cell of DL book eqs. 10.40-10.44 in place of Problem 3's recurrence, BPTT by hand.

    f(t) = sigma(b_f + U_f x(t) + W_f h(t-1))      forget gate
    g(t) = sigma(b_g + U_g x(t) + W_g h(t-1))      input gate
    q(t) = sigma(b_o + U_o x(t) + W_o h(t-1))      output gate
    z(t) = act(b + U x(t) + W h(t-1))              cell input; act = sigma (book) or tanh
    s(t) = f(t) * s(t-1) + g(t) * z(t)             h(t) = tanh(s(t)) * q(t)
    o(t) = c + V h(t), y(t) = softmax(o(t)), L = (y_1(T) - 0.5)^2 - log y_2(T)

The step functions take row vectors with an optional leading batch dimension and work on numpy
float64 arrays and torch tensors alike; `params` is a mapping with the twelve keys of CELL_KEYS.
"""

from dataclasses import dataclass, field

import numpy as np

from nnscope.findings.lstm import bias_choice, describe_lstm
from nnscope.options.lstm import LSTMOptions
from nnscope.recurrent import ops
from nnscope.recurrent.gradcheck import parameter_gradient, relative_error
from nnscope.recurrent.graph import lstm_graph
from nnscope.recurrent.output import (custom_loss, custom_loss_backward, output_backward, output_forward,
                                      require_finite)
from nnscope.recurrent.params import GATE_MATRICES, LSTMParams, RNNParams, load_lstm_params
from nnscope.recurrent.rnn import rnn_forward
from nnscope.results import Result

GATES = {"f": ("b_f", "U_f", "W_f"), "g": ("b_g", "U_g", "W_g"), "q": ("b_o", "U_o", "W_o"), "z": ("b", "U", "W")}
CELL_KEYS = tuple(k for keys in GATES.values() for k in keys)


@dataclass
class LSTMCache:
    """What one step's backward needs: inputs, gates, cell input and states, each (..., n) or (..., d)."""

    h_prev: object
    s_prev: object
    x: object
    f: object  # forget gate
    g: object  # input gate
    q: object  # output gate
    z: object  # cell input, act(b + U x + W h_prev)
    s: object  # cell state
    tanh_s: object
    h: object
    cell_activation: str

    @property
    def cell_input(self):
        """The cell input z(t), by the name the tables use."""
        return self.z


def lstm_step_forward(params, h_prev, s_prev, x, cell_activation: str = "sigmoid") -> LSTMCache:
    """One LSTM step (eqs. 10.40-10.44) from h(t-1), s(t-1), x(t)."""
    assert cell_activation in ("sigmoid", "tanh"), cell_activation
    pre = {name: params[b] + x @ params[U].T + h_prev @ params[W].T for name, (b, U, W) in GATES.items()}
    f, g, q = ops.sigmoid(pre["f"]), ops.sigmoid(pre["g"]), ops.sigmoid(pre["q"])
    z = ops.sigmoid(pre["z"]) if cell_activation == "sigmoid" else ops.tanh(pre["z"])
    s = f * s_prev + g * z
    tanh_s = ops.tanh(s)
    return LSTMCache(h_prev, s_prev, x, f, g, q, z, s, tanh_s, tanh_s * q, cell_activation)


def lstm_local_grads(cache: LSTMCache, dh, ds) -> dict:
    """From dL/dh(t) and dL/ds(t) through s(t+1): the total dL/ds(t), dL/d(f, g, q, z) and their pre-activations."""
    c = cache
    ds_total = ds + dh * c.q * (1.0 - c.tanh_s * c.tanh_s)  # h = tanh(s) q
    local = {"ds": ds_total, "df": ds_total * c.s_prev, "dg": ds_total * c.z, "dz": ds_total * c.g,
             "dq": dh * c.tanh_s}
    z_slope = c.z * (1.0 - c.z) if c.cell_activation == "sigmoid" else 1.0 - c.z * c.z
    local["da"] = {"f": local["df"] * c.f * (1.0 - c.f), "g": local["dg"] * c.g * (1.0 - c.g),
                   "q": local["dq"] * c.q * (1.0 - c.q), "z": local["dz"] * z_slope}
    return local


def lstm_step_backward(params, cache: LSTMCache, dh, ds):
    """dL/dh(t), dL/ds(t) from above -> (grads of CELL_KEYS summed over the batch, dL/dh(t-1), dL/ds(t-1))."""
    local = lstm_local_grads(cache, dh, ds)
    grads, dh_prev = {}, 0.0
    for name, (b, U, W) in GATES.items():
        da = local["da"][name]
        grads[b], grads[U], grads[W] = ops.batch_sum(da), ops.outer_sum(da, cache.x), ops.outer_sum(da, cache.h_prev)
        dh_prev = dh_prev + da @ params[W]
    return grads, dh_prev, local["ds"] * cache.f  # s(t) = f(t) s(t-1) + ...


@dataclass
class LSTMForward:
    """Every forward intermediate of one sequence."""

    caches: list  # T LSTMCache, numpy (n,) vectors
    o: np.ndarray  # (T, 2)
    y: np.ndarray  # (T, 2)
    loss: float


@dataclass
class LSTMBackward:
    """Reverse-mode intermediates; row t-1 of each (T, n) array belongs to time step t."""

    dL_dy: np.ndarray  # (2,) dL/dy(T)
    dL_do: np.ndarray  # (2,) dL/do(T)
    local: dict[str, np.ndarray]  # dh, ds, df, dg, dq, dz, da_f, da_g, da_q, da_z: (T, n) each
    grads: dict[str, np.ndarray]  # b_f, b_g, b_o, b, c, V, U, W (U, W include shared gate use) + own gate matrices


def lstm_forward(p: LSTMParams) -> LSTMForward:
    """Run the sequence x(1..T) from h(0), s(0)."""
    params, h, s, caches = p.cell(), p.h0, p.s0, []
    for x in p.x:
        caches.append(lstm_step_forward(params, h, s, x, p.cell_activation))
        h, s = caches[-1].h, caches[-1].s
    o, y = output_forward(p.V, p.c, np.array([c.h for c in caches]))
    return LSTMForward(caches=caches, o=o, y=y, loss=float(custom_loss(y[-1])))


def lstm_backward(p: LSTMParams, fwd: LSTMForward) -> LSTMBackward:
    """Reverse mode from t = T down to 1: dL/dh(t), dL/ds(t), the gate gradients, every parameter gradient."""
    params, T, n = p.cell(), len(p.x), len(p.b)
    dL_dy, dL_do = custom_loss_backward(fwd.y[-1])
    dh, dV, dc = output_backward(p.V, fwd.caches[-1].h, dL_do)  # only o(T) enters the loss
    ds = np.zeros(n)  # s(T) feeds no later step
    cell_grads = {k: np.zeros_like(v) for k, v in params.items()}
    local = {k: np.zeros((T, n)) for k in ("dh", "ds", "df", "dg", "dq", "dz", "da_f", "da_g", "da_q", "da_z")}
    for t in reversed(range(T)):
        step = lstm_local_grads(fwd.caches[t], dh, ds)
        local["dh"][t] = dh
        for k in ("ds", "df", "dg", "dq", "dz"):
            local[k][t] = step[k]
        for gate, da in step["da"].items():
            local[f"da_{gate}"][t] = da
        grads, dh, ds = lstm_step_backward(params, fwd.caches[t], dh, ds)
        for k, v in grads.items():
            cell_grads[k] += v
    grads = {"b_f": cell_grads["b_f"], "b_g": cell_grads["b_g"], "b_o": cell_grads["b_o"], "b": cell_grads["b"],
             "c": dc, "V": dV, "U": cell_grads["U"].copy(), "W": cell_grads["W"].copy()}
    for name in GATE_MATRICES:  # a gate matrix the file left out is U or W itself: its gradient adds there
        if name in p.shared:
            grads[name[0]] += cell_grads[name]
        else:
            grads[name] = cell_grads[name]
    return LSTMBackward(dL_dy=dL_dy, dL_do=dL_do, local=local, grads=grads)


def lstm_loss(p: LSTMParams) -> float:
    """The loss alone (for central differences)."""
    return lstm_forward(p).loss


@np.errstate(all="ignore")  # overflow is reported once, by require_finite
def lstm_solution(p: LSTMParams) -> dict:
    """Problem 5 for any parameters: outputs, loss, dL/db_f by BPTT with every intermediate, checked."""
    fwd = lstm_forward(p)
    bwd = lstm_backward(p, fwd)
    grad_b_f_fd = parameter_gradient(p, lstm_loss, "b_f")
    loc = bwd.local
    steps = [{
        "t": t + 1, "x": p.x[t], "f": c.f, "g": c.g, "q": c.q, "cell_input": c.cell_input, "s": c.s, "h": c.h,
        "o": fwd.o[t], "y": fwd.y[t], "dL_dh": loc["dh"][t], "dL_ds": loc["ds"][t], "dL_df": loc["df"][t],
        "dL_dg": loc["dg"][t], "dL_dq": loc["dq"][t], "dL_dcell_input": loc["dz"][t],
        "dL_db_f_contribution": loc["da_f"][t], "dL_db_f_sum_from_T_down_to_t": loc["da_f"][t:].sum(0),
    } for t, c in enumerate(fwd.caches)]
    other_biases = {name: parameter_gradient(p, lstm_loss, name) for name in ("b_g", "b_o", "b")}
    rnn = RNNParams(b=p.b, c=p.c, W=p.W, U=p.U, V=p.V, x=p.x, h0=p.h0)
    return require_finite({
        "network": "lstm", "cell_activation": p.cell_activation, "sizes": p.sizes, "epsilon": p.epsilon,
        "h0": p.h0, "s0": p.s0, "biases": {"b_f": p.b_f, "b_g": p.b_g, "b_o": p.b_o, "b": p.b},
        "shared_gate_matrices": list(p.shared),
        # sigma(b_*): how open each gate is with x = 0 and h(t-1) = 0 (q is the output gate, bias b_o)
        "gates_with_zero_input": {"f": ops.sigmoid(p.b_f), "g": ops.sigmoid(p.b_g), "q": ops.sigmoid(p.b_o)},
        "outputs": fwd.y, "loss": fwd.loss, "rnn_loss_same_parameters": rnn_forward(rnn).loss,
        "dL_dy_T": bwd.dL_dy, "dL_do_T": bwd.dL_do,
        "grad_b_f_bptt": bwd.grads["b_f"], "grad_b_f_finite_difference": grad_b_f_fd,
        "bptt_vs_finite_difference_relative_error": relative_error(bwd.grads["b_f"], grad_b_f_fd),
        "other_biases_finite_difference": other_biases,
        "other_biases_relative_error": {k: relative_error(bwd.grads[k], v) for k, v in other_biases.items()},
        "grads": bwd.grads, "steps": steps,
        "graph": lstm_graph(p, {"grad_b_f_finite_difference": grad_b_f_fd}, fwd, bwd),
    })


@dataclass
class LSTMResult(Result):
    """Problem 5 worked for one set of parameters: the LSTM's forward pass, dL/db_f by BPTT with every
    intermediate, checked by central differences, the other gradients, and which b_f to choose."""

    title = "LSTM cell: backpropagation through time by hand"
    network: str  # 'lstm'
    cell_activation: str  # sigmoid (the book) or tanh
    sizes: dict  # n hidden units, d inputs, T steps
    epsilon: float
    h0: np.ndarray
    s0: np.ndarray
    biases: dict  # b_f, b_g, b_o, b
    shared_gate_matrices: list[str]  # gate matrices the file left out, which are U or W
    gates_with_zero_input: dict  # sigma(b_f), sigma(b_g), sigma(b_o)
    outputs: np.ndarray  # (T, 2)
    loss: float
    rnn_loss_same_parameters: float  # Problem 3's network on the same b, c, U, V, W
    dL_dy_T: np.ndarray
    dL_do_T: np.ndarray
    grad_b_f_bptt: np.ndarray
    grad_b_f_finite_difference: np.ndarray
    bptt_vs_finite_difference_relative_error: float
    other_biases_finite_difference: dict
    other_biases_relative_error: dict
    grads: dict
    steps: list  # per time step: x, gates, cell input, s, h, y, and every dL/d of the backward pass
    graph: dict = field(repr=False)
    bias_choice: list[str] = field(default_factory=list)  # which b_f and why, in sentences
    finding: list[str] = field(default_factory=list)
    figures: list = field(default_factory=list)  # none are saved; figure() draws the main one

    def key_numbers(self) -> list[tuple[str, object]]:
        n, d, T = (self.sizes[k] for k in "ndT")
        return [("n, d, T", f"{n}, {d}, {T}"), ("cell input squashed by", self.cell_activation), ("loss L", self.loss),
                ("the RNN's loss, same parameters", self.rnn_loss_same_parameters),
                ("dL/db_f: BPTT vs central differences (relative error)", self.bptt_vs_finite_difference_relative_error),
                ("other biases: largest relative error", max(self.other_biases_relative_error.values()))]


def run_lstm(model=None, data=None, options: LSTMOptions = LSTMOptions(), out=None, progress=None) -> LSTMResult:
    """Problem 5 (`nnscope lstm`): the worked solution of the options' parameters, `bias_choice` and `finding`;
    `model`, `data`, `out` and `progress` are unused (one signature for the report's stages; no figures are
    saved, `figure()` draws one)."""
    options.check()
    solution = lstm_solution(load_lstm_params(options.params, options.cell_activation))
    solution["bias_choice"] = bias_choice(solution)
    return LSTMResult(**solution, finding=describe_lstm(solution))
