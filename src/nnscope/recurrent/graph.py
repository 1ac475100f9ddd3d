"""The unrolled graph of Problem 3's RNN and Problem 5's LSTM as data: one node per quantity, its value and
dL/d(node), taken from the hand-written forward and backward passes (nothing is recomputed here).

The page's graph (report/templates/bptt-graph.js) recomputes the same nodes in the browser from `params`,
so that they can be edited; the tests hold the two to 1e-12. Node ids are `name:t` (`a:2`, `h:0`) for a
quantity at step t and the parameter's name (`W`, `b_f`) for a parameter; `L` is the loss.
"""

import numpy as np

from nnscope.recurrent.params import LSTMParams, RNNParams

RNN_PARAMETERS = ("b", "W", "U", "V", "c")
LSTM_PARAMETERS = ("b_f", "b_g", "b_o", "b", "U_f", "W_f", "U_g", "W_g", "U_o", "W_o", "U", "W", "V", "c")


def plain(value) -> list | float:
    """A float64 array as nested lists of floats."""
    return np.asarray(value, dtype=np.float64).tolist()


def shared_params(p: RNNParams) -> dict:
    """What the browser needs to recompute the network: every parameter, the sequence, eta and epsilon."""
    return {"b": plain(p.b), "c": plain(p.c), "W": plain(p.W), "U": plain(p.U), "V": plain(p.V), "x": plain(p.x),
            "h0": plain(p.h0), "learning_rate": p.learning_rate, "epsilon": p.epsilon}


def output_nodes(T: int, o, y, dL_dy, dL_do, loss: float) -> dict:
    """o(t), y(t) of every step (only o(T), y(T) reach the loss: the others' gradient is 0) and L."""
    nodes = {}
    for t in range(1, T + 1):
        last = t == T
        nodes[f"o:{t}"] = (o[t - 1], dL_do if last else np.zeros(2))
        nodes[f"y:{t}"] = (y[t - 1], dL_dy if last else np.zeros(2))
    nodes["L"] = (loss, 1.0)
    return nodes


def rnn_graph(p: RNNParams, solution: dict, fwd, bwd) -> dict:
    """The RNN's graph: x(t), a(t), h(t), o(t), y(t), L and b, W, U, V, c with values and gradients."""
    T = len(p.x)
    nodes = {"h:0": (p.h0, p.W.T @ bwd.dL_da[0])}
    for t in range(1, T + 1):
        nodes[f"x:{t}"] = (p.x[t - 1], p.U.T @ bwd.dL_da[t - 1])  # dL/dx(t) = U^T dL/da(t)
        nodes[f"a:{t}"] = (fwd.a[t - 1], bwd.dL_da[t - 1])
        nodes[f"h:{t}"] = (fwd.h[t], bwd.dL_dh[t - 1])
    nodes.update(output_nodes(T, fwd.o, fwd.y, bwd.dL_dy, bwd.dL_do, fwd.loss))
    for name in RNN_PARAMETERS:
        nodes[name] = (getattr(p, name), bwd.grads[name])
    return {"network": "rnn", "params": shared_params(p), "nodes": as_records(nodes),
            "loss_after_step": solution["loss_after_step"], "central_difference": plain(solution["grad_b_finite_difference"])}


def lstm_graph(p: LSTMParams, solution: dict, fwd, bwd) -> dict:
    """The LSTM's graph: x(t), the gates f, g, q, the cell input z, s(t), h(t), o(t), y(t), L and every parameter."""
    T, cell = len(p.x), p.cell()
    loc = bwd.local
    nodes = {"h:0": (p.h0, sum(loc[f"da_{g}"][0] @ cell[w] for g, w in (("f", "W_f"), ("g", "W_g"), ("q", "W_o"),
                                                                          ("z", "W")))),
             "s:0": (p.s0, loc["ds"][0] * fwd.caches[0].f)}
    for t in range(1, T + 1):
        c, i = fwd.caches[t - 1], t - 1
        dx = sum(loc[f"da_{g}"][i] @ cell[u] for g, u in (("f", "U_f"), ("g", "U_g"), ("q", "U_o"), ("z", "U")))
        nodes[f"x:{t}"] = (p.x[i], dx)
        for name, value, grad in (("f", c.f, loc["df"][i]), ("g", c.g, loc["dg"][i]), ("q", c.q, loc["dq"][i]),
                                  ("z", c.z, loc["dz"][i]), ("s", c.s, loc["ds"][i]), ("h", c.h, loc["dh"][i])):
            nodes[f"{name}:{t}"] = (value, grad)
    nodes.update(output_nodes(T, fwd.o, fwd.y, bwd.dL_dy, bwd.dL_do, fwd.loss))
    grads = dict(bwd.grads)
    for name in LSTM_PARAMETERS:
        if name in grads:  # a shared gate matrix is U or W itself: its gradient is in theirs
            nodes[name] = (cell[name] if name in cell else getattr(p, name), grads[name])
    params = shared_params(p)
    params.update(s0=plain(p.s0), b_f=plain(p.b_f), b_g=plain(p.b_g), b_o=plain(p.b_o),
                  cell_activation=p.cell_activation, **{k: plain(getattr(p, k)) for k in p.__dataclass_fields__
                                                        if k.startswith(("U_", "W_")) and getattr(p, k) is not None})
    return {"network": "lstm", "params": params, "nodes": as_records(nodes),
            "central_difference": plain(solution["grad_b_f_finite_difference"])}


def as_records(nodes: dict) -> list[dict]:
    """[{id, value, grad}] in a stable order, values and gradients as plain lists (or floats for L)."""
    return [{"id": key, "value": plain(value), "grad": plain(grad)} for key, (value, grad) in nodes.items()]
