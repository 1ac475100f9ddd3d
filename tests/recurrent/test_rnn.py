"""The RNN of Problem 3: reference figures of MISSION.md, hand BPTT vs autograd and central differences."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nnscope.recurrent.gradcheck import parameter_gradient, relative_error
from nnscope.recurrent.params import RNNParams, load_rnn_params
from nnscope.recurrent.rnn import (rnn_backward, rnn_forward, rnn_loss, rnn_sensitivities, rnn_solution,
                                   rnn_step_backward, rnn_step_forward)

NAMES = ("b", "c", "W", "U", "V")


def within(value, reference, decimals: int) -> bool:
    """True when `value` rounds to `reference` as printed with `decimals` decimals."""
    return bool(np.all(np.abs(np.asarray(value) - np.asarray(reference)) <= 0.5 * 10.0 ** -decimals + 1e-15))


def test_problem3_reference_figures():
    result = rnn_solution(load_rnn_params())
    y = result["outputs"]
    assert within(y[0], [0.94921601, 0.05078399], 8)
    assert within(y[1], [0.95221995, 0.04778005], 8)
    assert within(y[2], [0.94001124, 0.05998876], 8)
    assert result["loss"] == pytest.approx(3.007207986556634, abs=1e-15)
    assert within(result["grad_b_finite_difference"], [-0.009961388, 0.434009955], 9)
    # central differences and BPTT agree to about 1e-9 (the differences err by O(eps^2))
    assert np.max(np.abs(result["grad_b_bptt"] - result["grad_b_finite_difference"])) < 2e-9
    assert np.max(np.abs(result["grad_b_bptt"] - np.array([-0.009961388, 0.434009955]))) < 2e-9
    assert np.max(np.abs(result["grad_b_forward_mode"] - result["grad_b_bptt"])) < 1e-15
    assert within(result["b_after_step"], [-0.99998008, 0.99913198], 8)
    assert result["b_after_step"][0] < 0  # b1 starts at -1 and stays negative
    assert within(result["loss_after_step"], 3.00683079577, 11)
    assert result["loss_after_step"] < result["loss"]


def torch_loss_and_grads(p: RNNParams) -> tuple[float, dict[str, np.ndarray]]:
    """An independent oracle: the same network in column-vector form, differentiated by autograd (float64)."""
    leaves = {k: torch.tensor(getattr(p, k), dtype=torch.float64, requires_grad=True) for k in NAMES}
    b, c, W, U, V = (leaves[k] for k in NAMES)
    h = torch.tensor(p.h0, dtype=torch.float64)
    for x in torch.tensor(p.x, dtype=torch.float64):
        h = torch.tanh(b + W @ h + U @ x)
    y = torch.softmax(c + V @ h, dim=0)
    loss = (y[0] - 0.5) ** 2 - torch.log(y[1])
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in leaves.items()}


def test_problem3_gradients_match_autograd_and_differences():
    p = load_rnn_params()
    fwd = rnn_forward(p)
    grads = rnn_backward(p, fwd).grads
    loss, reference = torch_loss_and_grads(p)
    assert fwd.loss == pytest.approx(loss, rel=1e-14)
    for name in NAMES:
        assert relative_error(grads[name], reference[name]) <= 1e-7, name
        assert relative_error(grads[name], parameter_gradient(p, rnn_loss, name, 1e-5)) <= 1e-7, name


def random_params(n: int, d: int, T: int, seed: int) -> RNNParams:
    rng = np.random.default_rng(seed)
    return RNNParams(b=rng.normal(0, 0.5, n), c=rng.normal(0, 0.5, 2), W=rng.normal(0, 1 / np.sqrt(n), (n, n)),
                     U=rng.normal(0, 1 / np.sqrt(d), (n, d)), V=rng.normal(0, 1, (2, n)), x=rng.normal(0, 1, (T, d)),
                     h0=rng.normal(0, 0.3, n))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 5), T=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_random_networks_match_autograd(n, d, T, seed):
    p = random_params(n, d, T, seed)
    fwd = rnn_forward(p)
    bwd = rnn_backward(p, fwd)
    loss, reference = torch_loss_and_grads(p)
    assert fwd.loss == pytest.approx(loss, rel=1e-12)
    for name in NAMES:
        assert relative_error(bwd.grads[name], reference[name]) <= 1e-7, name
    # forward-mode sensitivities reach the same dL/db
    assert relative_error(rnn_sensitivities(p, fwd)[2], bwd.grads["b"]) <= 1e-10


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), d=st.integers(1, 3), T=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_random_networks_match_central_differences(n, d, T, seed):
    p = random_params(n, d, T, seed)
    grads = rnn_backward(p, rnn_forward(p)).grads
    for name in NAMES:
        fd = parameter_gradient(p, rnn_loss, name, 1e-5)
        # differences err by O(eps^2) ~ 1e-10 absolutely; tiny gradients are compared absolutely
        assert relative_error(grads[name], fd) <= 1e-7 or np.max(np.abs(grads[name] - fd)) < 1e-9, name


def test_step_functions_run_batched_in_torch_like_numpy():
    rng = np.random.default_rng(0)
    n, d, B = 3, 2, 4
    W, U, b = rng.normal(size=(n, n)), rng.normal(size=(n, d)), rng.normal(size=n)
    h_prev, x, dh = rng.normal(size=(B, n)), rng.normal(size=(B, d)), rng.normal(size=(B, n))
    a, h = rnn_step_forward(*(torch.tensor(v) for v in (W, U, b, h_prev, x)))
    back = rnn_step_backward(*(torch.tensor(v) for v in (W, h_prev, x)), h, torch.tensor(dh))
    sums = [np.zeros((n, n)), np.zeros((n, d)), np.zeros(n)]
    for i in range(B):  # one row at a time in numpy: same values, parameter grads summed
        a_i, h_i = rnn_step_forward(W, U, b, h_prev[i], x[i])
        np.testing.assert_allclose(a[i].numpy(), a_i, rtol=1e-14)
        np.testing.assert_allclose(h[i].numpy(), h_i, rtol=1e-14)
        da_i, dh_prev_i, *param_grads = rnn_step_backward(W, h_prev[i], x[i], h_i, dh[i])
        np.testing.assert_allclose(back[0][i].numpy(), da_i, rtol=1e-13)
        np.testing.assert_allclose(back[1][i].numpy(), dh_prev_i, rtol=1e-13)
        sums = [s + g for s, g in zip(sums, param_grads)]
    for got, want in zip(back[2:], sums):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
