"""The LSTM of Problem 5: hand BPTT vs torch.autograd (float64) and central differences, both cell activations."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nnscope.recurrent.gradcheck import parameter_gradient, relative_error
from nnscope.recurrent.lstm import CELL_KEYS, lstm_backward, lstm_forward, lstm_loss, lstm_solution, \
    lstm_step_backward, lstm_step_forward
from nnscope.recurrent.params import GATE_MATRICES, LSTMParams, load_lstm_params

ACTIVATIONS = ("sigmoid", "tanh")


def torch_loss_and_grads(p: LSTMParams) -> tuple[float, dict[str, np.ndarray]]:
    """Independent oracle: eqs. 10.40-10.44 in column-vector form, autograd in float64.

    A gate matrix the parameters leave out is the very same leaf tensor as U or W, so autograd
    sums its uses just as the hand code must."""
    names = ["b", "c", "W", "U", "V", "b_f", "b_g", "b_o"] + [m for m in GATE_MATRICES if getattr(p, m) is not None]
    leaf = {k: torch.tensor(getattr(p, k), dtype=torch.float64, requires_grad=True) for k in names}
    mat = {m: leaf.get(m, leaf[m[0]]) for m in GATE_MATRICES}
    act = torch.sigmoid if p.cell_activation == "sigmoid" else torch.tanh
    h, s = torch.tensor(p.h0, dtype=torch.float64), torch.tensor(p.s0, dtype=torch.float64)
    for x in torch.tensor(p.x, dtype=torch.float64):
        f = torch.sigmoid(leaf["b_f"] + mat["U_f"] @ x + mat["W_f"] @ h)
        g = torch.sigmoid(leaf["b_g"] + mat["U_g"] @ x + mat["W_g"] @ h)
        q = torch.sigmoid(leaf["b_o"] + mat["U_o"] @ x + mat["W_o"] @ h)
        s = f * s + g * act(leaf["b"] + leaf["U"] @ x + leaf["W"] @ h)
        h = torch.tanh(s) * q
    y = torch.softmax(leaf["c"] + leaf["V"] @ h, dim=0)
    loss = (y[0] - 0.5) ** 2 - torch.log(y[1])
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in leaf.items()}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_problem5_gradients_match_autograd_and_differences(activation):
    p = load_lstm_params(cell_activation=activation)
    assert p.shared == GATE_MATRICES and list(p.b_f) == [1.0, 1.0] and list(p.b_g) == list(p.b_o) == [0.0, 0.0]
    result = lstm_solution(p)
    loss, reference = torch_loss_and_grads(p)
    assert result["loss"] == pytest.approx(loss, rel=1e-14)
    assert set(result["grads"]) == {"b_f", "b_g", "b_o", "b", "c", "V", "U", "W"}
    for name, grad in result["grads"].items():
        assert relative_error(grad, reference[name]) <= 1e-7, name
        assert relative_error(grad, parameter_gradient(p, lstm_loss, name, 1e-5)) <= 1e-7, name
    assert result["bptt_vs_finite_difference_relative_error"] < 1e-8
    # the per-step shares add up to dL/db_f, and step 1's share is 0 since s(0) = 0
    shares = np.array([s["dL_db_f_contribution"] for s in result["steps"]])
    np.testing.assert_allclose(shares.sum(0), result["grad_b_f_bptt"], rtol=1e-14)
    np.testing.assert_array_equal(shares[0], [0.0, 0.0])


def test_problem5_values_are_those_of_the_book_cell():
    """Step 1 by hand: h(0) = s(0) = 0, x(1) = [1, 0], every gate pre-activation is b_* + U[:, 0]."""
    p = load_lstm_params()
    first = lstm_forward(p).caches[0]
    sig = lambda a: 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(first.f, sig(np.array([1 - 1, 1 + 1])), rtol=1e-15)
    np.testing.assert_allclose(first.g, sig(np.array([-1.0, 1.0])), rtol=1e-15)
    np.testing.assert_allclose(first.z, sig(np.array([-2.0, 2.0])), rtol=1e-15)
    np.testing.assert_allclose(first.s, first.g * first.z, rtol=1e-15)
    np.testing.assert_allclose(first.h, np.tanh(first.s) * first.q, rtol=1e-15)


def random_params(n, d, T, seed, activation, own: tuple[str, ...]) -> LSTMParams:
    rng = np.random.default_rng(seed)
    gate = {m: rng.normal(0, 1, (n, d if m[0] == "U" else n)) for m in own}
    return LSTMParams(b=rng.normal(0, 0.5, n), c=rng.normal(0, 0.5, 2), W=rng.normal(0, 1, (n, n)),
                      U=rng.normal(0, 1, (n, d)), V=rng.normal(0, 1, (2, n)), x=rng.normal(0, 1, (T, d)),
                      h0=rng.normal(0, 0.3, n), s0=rng.normal(0, 0.3, n), b_f=rng.normal(1, 0.5, n),
                      b_g=rng.normal(0, 0.5, n), b_o=rng.normal(0, 0.5, n), cell_activation=activation, **gate)


shapes = dict(n=st.integers(1, 5), d=st.integers(1, 4), T=st.integers(1, 50), seed=st.integers(0, 2**32 - 1),
              activation=st.sampled_from(ACTIVATIONS), own=st.sets(st.sampled_from(GATE_MATRICES)).map(tuple))


@settings(max_examples=30, deadline=None)
@given(**shapes)
def test_random_lstms_match_autograd(n, d, T, seed, activation, own):
    p = random_params(n, d, T, seed, activation, own)
    fwd = lstm_forward(p)
    grads = lstm_backward(p, fwd).grads
    loss, reference = torch_loss_and_grads(p)
    assert fwd.loss == pytest.approx(loss, rel=1e-12)
    assert set(grads) == set(reference)
    for name in reference:
        assert relative_error(grads[name], reference[name]) <= 1e-7, name


@settings(max_examples=8, deadline=None)
@given(**shapes)
def test_random_lstms_match_central_differences(n, d, T, seed, activation, own):
    p = random_params(n, d, T, seed, activation, own)
    grads = lstm_backward(p, lstm_forward(p)).grads
    for name in ("b_f", "b_g", "b_o", "b", "U", "W"):
        fd = parameter_gradient(p, lstm_loss, name, 1e-5)
        assert relative_error(grads[name], fd) <= 1e-7 or np.max(np.abs(grads[name] - fd)) < 1e-9, name


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_step_functions_run_batched_in_torch_like_numpy(activation):
    rng = np.random.default_rng(1)
    n, d, B = 3, 2, 5
    params = {k: rng.normal(size=(n,) if k.startswith("b") else (n, d if k.startswith("U") else n)) for k in CELL_KEYS}
    h, s, x = rng.normal(size=(B, n)), rng.normal(size=(B, n)), rng.normal(size=(B, d))
    dh, ds = rng.normal(size=(B, n)), rng.normal(size=(B, n))
    tparams = {k: torch.tensor(v) for k, v in params.items()}
    cache = lstm_step_forward(tparams, torch.tensor(h), torch.tensor(s), torch.tensor(x), activation)
    grads, dh_prev, ds_prev = lstm_step_backward(tparams, cache, torch.tensor(dh), torch.tensor(ds))
    total = {k: 0.0 for k in CELL_KEYS}
    for i in range(B):
        one = lstm_step_forward(params, h[i], s[i], x[i], activation)
        np.testing.assert_allclose(cache.h[i].numpy(), one.h, rtol=1e-13)
        np.testing.assert_allclose(cache.s[i].numpy(), one.s, rtol=1e-13)
        g, dh_i, ds_i = lstm_step_backward(params, one, dh[i], ds[i])
        np.testing.assert_allclose(dh_prev[i].numpy(), dh_i, rtol=1e-12)
        np.testing.assert_allclose(ds_prev[i].numpy(), ds_i, rtol=1e-12)
        total = {k: total[k] + g[k] for k in CELL_KEYS}
    for k in CELL_KEYS:
        np.testing.assert_allclose(grads[k].numpy(), total[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation,y3,loss,grad_b_f", [
    ("sigmoid", [0.76109555, 0.23890445], 1.499862496556951, [-0.005603040766, 0.05561007419]),
    ("tanh", [0.79663250, 0.20336750], 1.6807314123125336, [0.02734274765, 0.06289872398]),
])
def test_problem5_figures_of_the_readme(activation, y3, loss, grad_b_f):
    """The figures the README prints (the torch oracle above confirms the same forward pass)."""
    result = lstm_solution(load_lstm_params(cell_activation=activation))
    np.testing.assert_allclose(result["outputs"][-1], y3, atol=5e-9)
    assert result["loss"] == pytest.approx(loss, abs=1e-14)
    np.testing.assert_allclose(result["grad_b_f_bptt"], grad_b_f, atol=5e-12)
