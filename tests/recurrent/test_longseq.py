"""The gradient-through-time measurement against torch autograd (float64), its rescaling, rates and shares,
the study end to end on a tiny config, and the command line."""

import json
import math

import numpy as np
import pytest
import torch

from nnscope.cli import main
from nnscope.recurrent import longseq
from nnscope.recurrent.longseq import (decay_rate, far_share, lstm_gradient_profile, random_lstm, random_rnn,
                                       rnn_gradient_profile)
from nnscope.threads import one_thread
from nnscope.recurrent.sequences import generate_motif_sequences, one_hot
from nnscope.recurrent.train_sequences import TrainBudget, final_states, initial_weights, train_models


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small recurrent steps run 10x to 100x faster on one thread when the cores are shared."""
    with one_thread():
        yield


def autograd_rnn(net, tokens, labels):
    """dL/dh(t) for t = 1..T and the five parameter gradients, by autograd on the same equations."""
    p = {k: v.clone().requires_grad_(True) for k, v in net.items()}
    x = one_hot(tokens)
    h, states = torch.zeros(x.shape[1], p["W"].shape[0], dtype=torch.float64), []
    for t in range(len(x)):
        h = torch.tanh(p["b"] + h @ p["W"].T + x[t] @ p["U"].T)
        h.retain_grad()
        states.append(h)
    loss = torch.nn.functional.cross_entropy(p["c"] + h @ p["V"].T, torch.as_tensor(labels))
    loss.backward()
    return loss.item(), [s.grad for s in states], {k: v.grad for k, v in p.items()}


@pytest.mark.parametrize("radius,rescale", [(0.9, 1e100), (2.0, 1e100), (0.5, 10.0), (2.0, 3.0)])
def test_rnn_profile_matches_autograd(monkeypatch, radius, rescale):
    monkeypatch.setattr(longseq, "RESCALE", rescale)  # small RESCALE: the log-scale bookkeeping runs every step
    s = generate_motif_sequences(3, 15, 2, seed=1)
    net = random_rnn(6, radius, 0.5, seed=0)
    loss, dh, grads = autograd_rnn(net, s.tokens, s.labels)
    p = rnn_gradient_profile(net, s.tokens, s.labels, far=4)
    assert p["loss"] == pytest.approx(loss, rel=1e-12)
    expected = np.log10([float(g.norm()) for g in reversed(dh)])  # by steps back
    np.testing.assert_allclose(p["log10"]["dL_dh"], expected, atol=1e-10)
    for name in "WUbVc":
        assert p["log10_gradient_norm"][name] == pytest.approx(math.log10(float(grads[name].norm())), abs=1e-10)


def test_rnn_step_contributions_add_up_and_far_share_is_computed_from_them():
    s = generate_motif_sequences(2, 12, 0, seed=2)
    net = random_rnn(5, 1.0, 0.5, seed=3)
    _, dh, grads = autograd_rnn(net, s.tokens, s.labels)
    p = rnn_gradient_profile(net, s.tokens, s.labels, far=3)
    # step t's dL/db contribution is dL/da(t) summed over the batch; from autograd: dL/dh(t) (1 - h(t)^2)
    assert p["log10"]["dW_step"][-1] is not None and p["log10"]["dW_step"][-1] == -np.inf  # h(0) = 0: no dW at t=1
    norms = 10.0 ** p["log10"]["dU_step"]
    assert p["far_share"]["U"] == pytest.approx(norms[4:].sum() / norms.sum())
    assert p["far_share"]["V"] == 0.0 and p["far_share"]["c"] == 0.0


def test_lstm_profile_matches_autograd():
    s = generate_motif_sequences(3, 14, 1, seed=4)
    params = random_lstm(5, 1.0, 0.5, seed=1)
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    x = one_hot(s.tokens)
    h = c = torch.zeros(3, 5, dtype=torch.float64)
    hs, cs, fs = [], [], []
    for t in range(len(x)):  # eqs. 10.40-10.44 with a tanh cell input, written out for autograd
        gate = lambda b, U, W: b + x[t] @ U.T + h @ W.T  # noqa: E731
        f = torch.sigmoid(gate(p["b_f"], p["U_f"], p["W_f"]))
        g = torch.sigmoid(gate(p["b_g"], p["U_g"], p["W_g"]))
        q = torch.sigmoid(gate(p["b_o"], p["U_o"], p["W_o"]))
        c = f * c + g * torch.tanh(gate(p["b"], p["U"], p["W"]))
        h = torch.tanh(c) * q
        c.retain_grad(), h.retain_grad()
        hs.append(h), cs.append(c), fs.append(f.detach())
    loss = torch.nn.functional.cross_entropy(p["c"] + h @ p["V"].T, torch.as_tensor(s.labels))
    loss.backward()
    out = lstm_gradient_profile(params, s.tokens, s.labels, far=3, cell_activation="tanh")
    assert out["loss"] == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(out["log10"]["dL_dh"], np.log10([float(v.grad.norm()) for v in reversed(hs)]), atol=1e-10)
    # the gradient carried by the cell: dL/ds(t-1) through s(t) = f(t) * (total dL/ds(t))
    carried = [float((f * v.grad).norm()) for f, v in zip(reversed(fs), reversed(cs))]
    np.testing.assert_allclose(out["log10"]["dL_ds_cell"], np.log10(carried), atol=1e-10)
    gates = torch.cat([p[k].grad.flatten() for k in p if k[0] in "UW"])
    assert out["log10_gradient_norm"]["V"] == pytest.approx(math.log10(float(p["V"].grad.norm())), abs=1e-10)
    assert 10 ** out["geometric_mean_forget_gate"] > 0 and float(gates.norm()) > 0


def test_decay_rate_of_a_geometric_sequence():
    r = decay_rate(np.log10(0.8) * np.arange(1000))
    assert r["factor_per_step"] == pytest.approx(0.8) and r["decades_per_100_steps"] == pytest.approx(100 * math.log10(0.8))


def test_far_share_by_hand():
    assert far_share(np.log10([1.0, 1.0, 2.0, 4.0]), far=1) == pytest.approx(6 / 8)
    assert far_share(np.array([-np.inf, -np.inf]), far=0) == 0.0


def test_small_radius_vanishes_and_large_radius_explodes():
    s = generate_motif_sequences(4, 600, 10, seed=0)
    low = rnn_gradient_profile(random_rnn(16, 0.5, 0.1, seed=0), s.tokens, s.labels, far=100)
    high = rnn_gradient_profile(random_rnn(16, 3.0, 0.1, seed=0), s.tokens, s.labels, far=100)
    assert low["rate"]["factor_per_step"] < 0.7 and low["far_share"]["W"] < 1e-10
    assert high["rate"]["factor_per_step"] > 1.01 and high["far_share"]["W"] > 0.99
    assert high["log10"]["dL_dh"][-1] > 10  # 10^10 and more: far past a float32 gradient step's scale


def test_cli_runs_the_study_and_writes_figures_answers_and_json(tmp_path, capsys):
    code = main(["longseq", "--lengths", "60", "120", "--distances", "0", "20", "--train-length", "30", "--radii", "0.5",
                 "2", "--forget-biases", "0", "1", "--far", "10", "--updates", "3", "--seeds", "2", "--train-count",
                 "32", "--test-count", "16", "--esn-size", "20", "--hidden", "8", "--out", str(tmp_path), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("longseq_gradient_norms.png", "longseq_gradient_shares.png", "longseq_accuracy.png",
                 "longseq_learning_curves.png", "longseq_answers.md", "longseq.json"):
        assert (tmp_path / name).stat().st_size > 500
    assert set(result["answers"]) == {"4.1", "4.2", "4.3"}
    assert "V and c act on h(tau) alone" in result["answers"]["4.1"]
    assert "learned: only V and c" in result["answers"]["4.2"]
    assert len(result["gradients"]["rnn"]) == 4 and len(result["gradients"]["rnn"][-1]["log10"]["dL_dh"]) == 120
    assert result["gradients"]["rnn"][0]["log10"]["dW_step"][-1] is None  # log10 0 -> None in JSON
    trained = result["trained"]
    assert [(r["distance"], r["forget_bias"]) for r in trained["lstm"]] == [(0, 1.0), (0, 3.0), (20, 1.0), (20, 3.0)]
    assert trained["length"] == 30 and all(len(r["test_accuracy"]) == 2 for r in trained["rnn"] + trained["lstm"])
    assert result["seed"] == 0 and "torch" in result["versions"]


def test_cli_rejects_a_distance_longer_than_the_sequence(tmp_path, capsys):
    assert main(["longseq", "--lengths", "50", "--distances", "100", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--distances" in err


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_batched_models_equal_torchs_own_layers_with_the_same_weights(kind):
    """Model m of the batch computes what torch.nn.RNN / nn.LSTM compute with model m's weights."""
    hidden, models = 5, 3
    weights = initial_weights(kind, hidden, [1.0, 2.0, 0.5], seed=4)
    tokens = torch.randint(0, 20, (models, 6, 9), generator=torch.Generator().manual_seed(0))  # (M, N, T)
    tokens[1, 2, -3:] = 20  # PAD: a zero input
    ours = final_states(kind, weights, tokens)
    for m in range(models):
        U, W, b = weights["U"][m].detach(), weights["W"][m].detach(), weights["b"][m].detach()
        layer = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(20, hidden)
        # torch's gates are (i, f, g, o) = our (g, f, z, q), stacked along the rows of weight_ih
        order = [0] if kind == "rnn" else [1, 0, 3, 2]  # our blocks are f, g, q, z
        blocks = lambda a: torch.cat([a[..., i * hidden:(i + 1) * hidden] for i in order], -1)  # noqa: E731
        with torch.no_grad():
            layer.weight_ih_l0.copy_(blocks(U[:20]).T)
            layer.weight_hh_l0.copy_(blocks(W).T)
            layer.bias_ih_l0.copy_(blocks(b))
            layer.bias_hh_l0.zero_()
            x = one_hot(tokens[m].clamp(max=19), torch.float32) * (tokens[m] < 20).T.unsqueeze(2)
            states, _ = layer(x)
        torch.testing.assert_close(ours[m], states[-1], rtol=1e-5, atol=1e-6)
    if kind == "lstm":
        assert (weights["b"][:, :hidden].detach() == torch.tensor([[1.0], [2.0], [0.5]])).all()  # the forget gate


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_training_learns_a_motif_at_the_end(kind):
    train, test = generate_motif_sequences(128, 30, 0, seed=1), generate_motif_sequences(64, 30, 0, seed=2)
    out = train_models(kind, [train, train], [test, test], TrainBudget(hidden=8, updates=30, learning_rate=0.03,
                                                                       evaluate_every=10))
    assert (out["test_accuracy"] >= 0.95).all() and (out["losses"][:, -1] < out["losses"][:, 0]).all()
    assert out["curve_updates"] == [0, 10, 20, 30] and out["test_curve"].shape == (2, 4)
    assert (out["test_curve"][:, -1] == out["test_accuracy"]).all()


def test_models_of_one_batch_train_as_if_alone():
    """Adam is elementwise and the clipping is per model: model 1 of a batch of two is model 0 of a batch of one
    started from the same seed."""
    train, test = generate_motif_sequences(64, 12, 2, seed=1), generate_motif_sequences(32, 12, 2, seed=2)
    other = generate_motif_sequences(64, 12, 5, seed=3)
    budget = TrainBudget(hidden=4, updates=5, batch_size=8, clip=0.05, seed=7)
    pair = train_models("rnn", [other, train], [generate_motif_sequences(32, 12, 5, seed=4), test], budget)
    alone = train_models("rnn", [train], [test], TrainBudget(**{**budget.__dict__, "seed": 8}))
    np.testing.assert_allclose(pair["losses"][1], alone["losses"][0], rtol=1e-5)
    assert (pair["gradient_norms"][1] > 0.05).any()  # the clipping was in force


@pytest.mark.parametrize("options,named", [(["--radii", "0", "1"], "--radii"), (["--updates", "0"], "--updates"),
                                           (["--lengths", "3"], "--lengths"), (["--esn-size", "0"], "--esn-size"),
                                           (["--far", "5000"], "--far")])
def test_cli_names_the_bad_option(tmp_path, capsys, options, named):
    assert main(["longseq", *options, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err


def test_answer_wording_follows_the_numbers():
    from nnscope.findings.longseq import behaviour, reach

    assert [behaviour(v) for v in (-1533.0, -2.0, 2.9, 159.0)] == ["vanishes", "is kept", "is kept", "explodes"]
    rows = [{"distance": d, "test_accuracy": a} for d, a in ((0, 1.0), (10, 0.94), (30, 0.53), (100, 0.95))]
    assert reach(rows) == "up to distance 10"  # 100 is solved but 30 is not: reach stops at the first failure
    assert reach([{"distance": 0, "test_accuracy": 0.6}]) == "at no distance"


def test_the_lstm_of_the_gradient_measurement_shares_the_rnns_draws():
    rnn = random_rnn(6, 1.0, 0.1, seed=5)
    lstm = random_lstm(6, 1.0, 0.1, seed=9, rnn=rnn)
    for name in "UWV":
        assert torch.equal(lstm[name], rnn[name]), name
    assert float(torch.linalg.eigvals(lstm["W"]).abs().max()) == pytest.approx(1.0, rel=1e-12)
    alone = random_lstm(6, 1.0, 0.1, seed=9)  # the gates' own matrices are the same draws with or without
    for name in ("U_f", "W_f", "U_g", "W_g", "U_o", "W_o", "b_f"):
        assert torch.equal(lstm[name], alone[name]), name


def test_the_study_records_what_it_compared_and_what_is_zero_by_construction(tiny_longseq):
    _, result = tiny_longseq
    grads = result["gradients"]
    w = grads["lstm_weights"]
    assert w["from_rnn"] == ["U", "W", "V"] and w["cell_activation"] == "tanh" and w["W_spectral_radius"] == 1.0
    for row in grads["rnn"] + grads["lstm"]:
        assert row["far_share_zero_by_construction"] == ["V", "c"]
        assert row["far_share"]["V"] == 0.0 and row["far_share"]["c"] == 0.0
    assert "0 by construction" in result["answers"]["4.1"]
    assert result["finding"] == list(result["answers"].values())


def test_each_answer_is_at_most_three_sentences_and_writes_no_caret_powers(tiny_longseq):
    import re

    _, result = tiny_longseq
    for key, text in result["answers"].items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s]
        assert 1 <= len(sentences) <= 3, (key, sentences)
        assert "10^" not in text and "`" not in text, key
    assert "`" not in result["task"]["rule"]


def test_powers_of_ten_read_as_numbers():
    from nnscope.findings.longseq import power_of_ten

    assert power_of_ten(-1533.2) == "1e-1533" and power_of_ten(302.4) == "1e+302"
    assert power_of_ten(-1.2) == "0.0631" and power_of_ten(2) == "100"


def test_the_lstm_answer_says_plainly_when_it_does_not_beat_the_rnn(tiny_longseq):
    from copy import deepcopy

    from nnscope.findings.longseq import why_lstm

    _, result = tiny_longseq
    result = deepcopy(result)
    for row in result["trained"]["rnn"]:
        row["test_accuracy"] = [0.5, 0.52]
    for row in result["trained"]["lstm"]:
        row["test_accuracy"] = [0.5, 0.55]
    lost = why_lstm(result)
    assert "no distance had the RNN at chance and an LSTM at 90%" in lost and "Why: with b_f = 1" in lost
    assert "largest gap is at distance 0, RNN 51%, LSTM with b_f = 1 52%" in lost
    result["trained"]["rnn"][-1]["test_accuracy"] = [0.7, 0.8]  # above chance where the LSTM learns
    result["trained"]["lstm"][-1]["test_accuracy"] = [0.97, 0.99]  # distance 20, b_f = 3
    assert "RNN's own gradient still reaches the motif" in why_lstm(result)
    result["trained"]["rnn"][-1]["test_accuracy"] = [0.5, 0.52]
    result["trained"]["lstm"][-1]["test_accuracy"] = [0.97, 0.99]  # distance 20, b_f = 3
    won = why_lstm(result)
    assert "at distance 20 the RNN stays at chance (median test accuracy 51%)" in won
    assert "LSTM with b_f = 3 learns it (median 98%, 2 of 2 seeds" in won


def captured_figures(monkeypatch, result, out) -> dict:
    """Draw the figures of `result` into `out`, keeping each figure's axes before it is closed."""
    from nnscope.report import figures_longseq

    kept, save = {}, figures_longseq.save_figure

    def keep(fig, path, **kwargs):
        kept[path.name] = [(ax.get_title(), [t.get_text() for t in ax.texts]) for ax in fig.axes]
        return save(fig, path, **kwargs)

    monkeypatch.setattr(figures_longseq, "save_figure", keep)
    records = figures_longseq.longseq_figures(result, out)
    return records, kept


def test_figures_show_the_panels_titles_and_labels(tiny_longseq, tmp_path, monkeypatch):
    from PIL import Image

    folder, result = tiny_longseq
    assert [f["file"] for f in result["figures"]] == ["longseq_gradient_norms.png", "longseq_gradient_shares.png",
                                                      "longseq_accuracy.png", "longseq_learning_curves.png"]
    records, kept = captured_figures(monkeypatch, result, tmp_path)
    assert records == result["figures"] and all(f["alt"] and f["caption"] for f in records)
    for name, axes in kept.items():
        assert len(axes) == 2, name  # every figure has two panels
        width, height = Image.open(tmp_path / name).size
        assert width > 1000 and 350 < height < 700, (name, width, height)
        assert (folder / name).is_file()
    norms = [title for title, _ in kept["longseq_gradient_norms.png"]]
    assert norms == ["vanilla RNN (eqs. 10.8-10.11), T = 120", "LSTM, T = 120, U, W, V as the RNN's (W at radius 1)"]
    shares = kept["longseq_gradient_shares.png"]
    assert shares[0][0] == "far past's share of each gradient"
    assert "dL/dV and dL/dc: 0 by construction\n(they act on h(tau) alone)" in shares[0][1]
    assert shares[1][0] == "gradient norms, T = 120"
    holds = "holds" if result["esn"]["check"]["holds"] else "FAILS"
    assert kept["longseq_accuracy.png"][1][0].endswith(holds)
    curves = [title for title, _ in kept["longseq_learning_curves.png"]]
    assert curves == ["motif distance 0, T = 30, 2 seeds each", "motif distance 20, T = 30, 2 seeds each"]


def text_boxes(fig, skip) -> list:
    """The window extents of every visible text of `fig` (titles, labels, tick labels, bar labels, notes) but
    the texts in `skip`, each text once."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    texts = {id(t): t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in skip}
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts.values()]


def five_radii(result: dict) -> dict:
    """The study with the default report's five spectral radii and the far shares and norms it measured (tiny
    shares beside large ones: the case where bar labels collide)."""
    from copy import deepcopy

    result = deepcopy(result)
    row = [r for r in result["gradients"]["rnn"] if r["length"] == 120][0]
    rows = []
    for radius, share, norm in ((0.5, 3e-35, -0.9), (0.9, 5e-8, -0.7), (1.0, 3e-4, -0.4), (1.5, 1e-5, -0.1),
                                (2.0, 0.94, 2.3)):
        r = deepcopy(row)
        r["spectral_radius"] = radius
        r["far_share"].update(W=share, U=share, b=share)
        r["log10_gradient_norm"].update(W=norm, U=norm - 0.4, b=norm - 0.5, V=-0.8, c=-1.9)
        rows.append(r)
    result["gradients"]["rnn"] = rows
    return result


@pytest.mark.parametrize("draw", ["gradient_share_figure", "accuracy_figure", "learning_curve_figure",
                                  "gradient_norm_figure"])
def test_no_two_labels_of_a_figure_overlap(tiny_longseq, tmp_path, monkeypatch, draw):
    """Bar labels, notes, titles and ticks: no two texts of one figure share a pixel (the legend's own entries
    are laid out by matplotlib and skipped), with the default report's five radii."""
    from matplotlib.legend import Legend

    from nnscope.report import figures_longseq

    result = five_radii(tiny_longseq[1])
    seen = {}

    def keep(fig, path, **kwargs):
        legends = {id(t) for leg in fig.findobj(Legend) for t in leg.get_texts()}
        fig.canvas.draw()
        seen["boxes"] = text_boxes(fig, legends)
        figures_longseq.plt.close(fig)
        return path

    monkeypatch.setattr(figures_longseq, "save_figure", keep)
    getattr(figures_longseq, draw)(result, tmp_path / "f.png")
    boxes = seen["boxes"]
    assert boxes
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not box_a.overlaps(box_b), (a, b)


def test_zero_by_construction_is_said_once_not_drawn_on_each_bar(tiny_longseq, tmp_path, monkeypatch):
    from matplotlib.container import BarContainer

    from nnscope.report import figures_longseq

    _, result = tiny_longseq
    labels = {}
    original = figures_longseq.plt.Axes.bar_label

    def record(ax, container: BarContainer, texts=None, **kwargs):
        labels.setdefault(container.get_label(), []).append(list(texts))
        return original(ax, container, texts, **kwargs)

    monkeypatch.setattr(figures_longseq.plt.Axes, "bar_label", record)
    figures_longseq.gradient_share_figure(result, tmp_path / "shares.png")
    assert len(labels["dL/dW"]) == 2 and len(labels["dL/dV"]) == 1  # V, c: the norms only, no share bars
    assert all("construction" not in label for texts in labels.values() for group in texts for label in group)
