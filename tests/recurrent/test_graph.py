"""The unrolled graph's nodes (run_rnn / run_lstm 'graph'): every value and dL/d(node) against torch autograd
in float64 on random parameters, and against the hand BPTT tables of the same result."""

import numpy as np
import pytest
import torch

from nnscope.recurrent.lstm import lstm_solution, run_lstm
from nnscope.recurrent.params import LSTMParams, RNNParams
from nnscope.recurrent.rnn import rnn_solution, run_rnn


def random_fields(seed: int, n=3, d=2, T=5) -> dict:
    rng = np.random.default_rng(seed)
    return dict(b=rng.normal(size=n), c=rng.normal(size=2), W=rng.normal(size=(n, n)), U=rng.normal(size=(n, d)),
                V=rng.normal(size=(2, n)), x=rng.normal(size=(T, d)), h0=rng.normal(size=n))


def leaf(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def kept(t: torch.Tensor) -> torch.Tensor:
    t.retain_grad()
    return t


def check(graph: dict, tensors: dict) -> None:
    """Each node's value and gradient equal the tensor of the same id and its .grad (None: zero, unused)."""
    assert {n["id"] for n in graph["nodes"]} == set(tensors)
    for node in graph["nodes"]:
        t = tensors[node["id"]]
        np.testing.assert_allclose(node["value"], t.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=node["id"])
        grad = np.zeros_like(t.detach().numpy()) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(node["grad"], grad, rtol=1e-10, atol=1e-14, err_msg=node["id"])


def outputs(V, c, hs, tensors) -> torch.Tensor:
    T = len(hs) - 1
    for t in range(1, T + 1):
        tensors[f"o:{t}"] = kept(c + V @ hs[t])
        tensors[f"y:{t}"] = kept(torch.softmax(tensors[f"o:{t}"], 0))
    y = tensors[f"y:{T}"]
    tensors["L"] = kept((y[0] - 0.5) ** 2 - torch.log(y[1]))
    return tensors["L"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rnn_graph_equals_autograd(seed):
    f = random_fields(seed)
    graph = rnn_solution(RNNParams(**f))["graph"]
    P = {k: leaf(f[k]) for k in ("b", "c", "W", "U", "V")}
    tensors = dict(P)
    hs = [leaf(f["h0"])]
    tensors["h:0"] = hs[0]
    for t in range(1, len(f["x"]) + 1):
        tensors[f"x:{t}"] = x = leaf(f["x"][t - 1])
        tensors[f"a:{t}"] = a = kept(P["b"] + P["W"] @ hs[-1] + P["U"] @ x)
        tensors[f"h:{t}"] = h = kept(torch.tanh(a))
        hs.append(h)
    outputs(P["V"], P["c"], hs, tensors).backward()
    check(graph, tensors)


@pytest.mark.parametrize("seed,activation", [(0, "sigmoid"), (1, "tanh")])
def test_lstm_graph_equals_autograd_with_own_and_shared_gate_matrices(seed, activation):
    f = random_fields(seed)
    rng = np.random.default_rng(seed + 10)
    n, d = f["U"].shape
    own = {"W_f": rng.normal(size=(n, n)), "U_o": rng.normal(size=(n, d))}  # the other gates share U and W
    gates = {"b_f": rng.normal(size=n), "b_g": rng.normal(size=n), "b_o": rng.normal(size=n)}
    p = LSTMParams(**f, s0=rng.normal(size=n), **gates, **own, cell_activation=activation)
    graph = lstm_solution(p)["graph"]
    P = {k: leaf(v) for k, v in {**{k: f[k] for k in ("b", "c", "W", "U", "V")}, **gates, **own}.items()}
    cell = {"f": (P["b_f"], P["U"], P["W_f"]), "g": (P["b_g"], P["U"], P["W"]), "q": (P["b_o"], P["U_o"], P["W"]),
            "z": (P["b"], P["U"], P["W"])}
    tensors = dict(P)
    hs, s = [leaf(f["h0"])], leaf(p.s0)
    tensors["h:0"], tensors["s:0"] = hs[0], s
    for t in range(1, len(f["x"]) + 1):
        tensors[f"x:{t}"] = x = leaf(f["x"][t - 1])
        pre = {g: b + U @ x + W @ hs[-1] for g, (b, U, W) in cell.items()}
        for g in "fgq":
            tensors[f"{g}:{t}"] = kept(torch.sigmoid(pre[g]))
        tensors[f"z:{t}"] = kept(torch.tanh(pre["z"]) if activation == "tanh" else torch.sigmoid(pre["z"]))
        s = tensors[f"s:{t}"] = kept(tensors[f"f:{t}"] * s + tensors[f"g:{t}"] * tensors[f"z:{t}"])
        tensors[f"h:{t}"] = kept(torch.tanh(s) * tensors[f"q:{t}"])
        hs.append(tensors[f"h:{t}"])
    outputs(P["V"], P["c"], hs, tensors).backward()
    check(graph, tensors)


def test_the_graph_carries_the_hand_bptt_tables_of_the_assignment():
    rnn, lstm = run_rnn(), run_lstm()
    by_id = {n["id"]: n for n in rnn["graph"]["nodes"]}
    for step in rnn["steps"]:
        t = step["t"]
        np.testing.assert_array_equal(by_id[f"a:{t}"]["grad"], step["dL_da"])
        np.testing.assert_array_equal(by_id[f"h:{t}"]["grad"], step["dL_dh"])
    np.testing.assert_array_equal(by_id["b"]["grad"], rnn["grad_b_bptt"])
    assert rnn["graph"]["central_difference"] == list(rnn["grad_b_finite_difference"])
    assert rnn["graph"]["params"]["x"] == [[1.0, 0.0], [0.5, 0.25], [0.0, 1.0]]
    by_id = {n["id"]: n for n in lstm["graph"]["nodes"]}
    for step in lstm["steps"]:
        t = step["t"]
        np.testing.assert_array_equal(by_id[f"f:{t}"]["grad"], step["dL_df"])
        np.testing.assert_array_equal(by_id[f"s:{t}"]["grad"], step["dL_ds"])
    np.testing.assert_array_equal(by_id["b_f"]["grad"], lstm["grad_b_f_bptt"])
