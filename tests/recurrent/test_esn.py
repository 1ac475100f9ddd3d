"""Echo state network: the readout is the ridge least-squares solution, the batched reservoir equals a
per-sequence loop, the echo-state check tells a contracting reservoir from a chaotic one."""

import numpy as np
import pytest
import torch

from nnscope.errors import NnscopeError
from nnscope.recurrent.esn import (EchoStateConfig, echo_state_check, esn_accuracy, fit_readout, make_reservoir,
                                   readout_predict, reservoir_features)
from nnscope.threads import one_thread
from nnscope.recurrent.sequences import PAD, SequenceSet, generate_motif_sequences


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small recurrent steps run 10x to 100x faster on one thread when the cores are shared."""
    with one_thread():
        yield


@pytest.mark.parametrize("ridge", [0.0, 0.3, 5.0])
def test_readout_is_the_ridge_least_squares_solution(ridge):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 7))
    labels = rng.integers(0, 2, 50)
    readout = fit_readout(X, labels, ridge)
    # independent oracle: ordinary least squares on the system augmented by sqrt(ridge) I rows (c not penalised)
    A = np.vstack([np.hstack([X, np.ones((50, 1))]), np.hstack([np.sqrt(ridge) * np.eye(7), np.zeros((7, 1))])])
    Y = np.vstack([np.eye(2)[labels], np.zeros((7, 2))])
    w = np.linalg.lstsq(A, Y, rcond=None)[0]
    np.testing.assert_allclose(readout["V"], w[:7].T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(readout["c"], w[7], rtol=1e-9, atol=1e-12)
    assert readout["V"].shape == (2, 7) and readout["c"].shape == (2,)


def test_readout_predicts_a_linearly_separable_rule():
    X = np.array([[1.0, 0.0], [2.0, 0.1], [-1.0, 0.0], [-2.0, -0.1]])
    labels = np.array([1, 1, 0, 0])
    assert (readout_predict(fit_readout(X, labels, 1e-6), X) == labels).all()


def test_reservoir_has_the_requested_spectral_radius():
    r = make_reservoir(EchoStateConfig(size=30, spectral_radius=0.7, input_scaling=0.2, seed=1))
    assert float(torch.linalg.eigvals(r["W"]).abs().max()) == pytest.approx(0.7, rel=1e-9)
    assert float(r["U"].abs().max()) <= 0.2 and r["U"].shape == (30, 20)


def test_batched_features_equal_a_per_sequence_loop_with_ragged_lengths():
    r = make_reservoir(EchoStateConfig(size=12, seed=2))
    s = generate_motif_sequences(5, 40, 3, seed=5)
    lengths = np.array([40, 17, 33, 40, 8])
    tokens = s.tokens.copy()
    for row, n in zip(tokens, lengths):
        row[n:] = PAD
    feats = reservoir_features(r, SequenceSet(tokens, lengths, s.labels), dtype=torch.float64)
    W, U, b = (r[k].numpy() for k in ("W", "U", "b"))
    for i, n in enumerate(lengths):
        h, states = np.zeros(12), []
        for t in range(n):  # eqs. 10.8-10.9 with one-hot x(t), written out in numpy
            x = np.eye(20)[tokens[i, t]]
            h = np.tanh(b + W @ h + U @ x)
            states.append(h)
        np.testing.assert_allclose(feats["final"][i], h, atol=1e-12)
        np.testing.assert_allclose(feats["mean"][i], np.mean(states, axis=0), atol=1e-12)


def test_echo_state_check_tells_contracting_from_chaotic():
    good = echo_state_check(make_reservoir(EchoStateConfig(size=50, spectral_radius=0.8, seed=0)), steps=400)
    assert good["holds"] and good["washout_steps"] < 400 and good["spread"][-1] < 1e-8
    assert good["spectral_radius"] == pytest.approx(0.8)
    bad = echo_state_check(make_reservoir(EchoStateConfig(size=50, spectral_radius=3.0, input_scaling=0.1, seed=0)),
                           steps=400)
    assert not bad["holds"] and bad["washout_steps"] is None and bad["spread"][-1] > 0.1
    assert not bad["sufficient_condition"]


def test_esn_solves_a_motif_at_the_end_and_learns_only_v_and_c():
    train, test = generate_motif_sequences(200, 100, 0, seed=1), generate_motif_sequences(100, 100, 0, seed=2)
    out = esn_accuracy(train, test, EchoStateConfig(size=50, input_scaling=0.1, ridge=1e-6))
    assert out["final"]["test_accuracy"] == 1.0
    assert out["fixed"] == ["W", "U", "b"] and out["learned"] == ["V", "c"]


def test_bad_config_names_the_field():
    with pytest.raises(NnscopeError, match="spectral radius"):
        make_reservoir(EchoStateConfig(spectral_radius=-1))


def test_benchmark_script_runs_and_checks_the_naive_loop():
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "esn_speed.py"
    out = subprocess.run([sys.executable, str(script), "--count", "6", "--length", "120", "--size", "10",
                          "--naive-count", "3", "--json"], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["sequences"] == 6 and result["naive_timed_on"] == 3 and result["max_abs_difference"] < 1e-5
    assert result["batched_seconds"] > 0 and result["speedup"] == pytest.approx(
        result["naive_seconds"] / result["batched_seconds"])
