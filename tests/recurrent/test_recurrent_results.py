"""The results of Problems 3-5 as typed results: the command's JSON, the notebook view, the main figure drawn
from the measured numbers."""

import json

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from nnscope.cli import main
from nnscope.options.lstm import LSTMOptions
from nnscope.recurrent.longseq_study import FastaESNResult, LongSeqResult, run_longseq
from nnscope.recurrent.lstm import LSTMResult, run_lstm
from nnscope.recurrent.rnn import RNNResult, run_rnn

TIMINGS = ("seconds", "stage_seconds", "rnn_seconds", "lstm_seconds")  # wall-clock: differ from run to run


def command_json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def bar_heights(ax) -> dict[float, float]:
    """Per bar position on `ax`, the sum of the stacked bars' heights there."""
    sums = {}
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            x = round(patch.get_x() + patch.get_width() / 2, 6)
            sums[x] = sums.get(x, 0.0) + patch.get_height()
    return sums


def marked(ax, label: str) -> np.ndarray:
    """The y values of the scatter `label` on `ax`."""
    collection = next(c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() == label)
    return np.asarray(collection.get_offsets())[:, 1]


def test_rnn_and_lstm_are_typed_results_whose_json_is_the_commands(capsys):
    rnn, lstm = run_rnn(), run_lstm(options=LSTMOptions(cell_activation="tanh"))
    assert isinstance(rnn, RNNResult) and isinstance(lstm, LSTMResult)
    assert rnn.to_json() == command_json(capsys, ["rnn", "--json"])
    assert lstm.to_json() == command_json(capsys, ["lstm", "--json", "--cell-activation", "tanh"])
    assert rnn["loss"] == rnn.loss and lstm["bias_choice"] == lstm.finding[:3]


def test_the_rnn_figure_stacks_each_steps_share_into_the_bptt_gradient():
    result = run_rnn()
    figure = result.figure()
    left, right = figure.axes
    heights = bar_heights(left)
    np.testing.assert_allclose([heights[x] for x in sorted(heights)], result.grad_b_bptt, rtol=1e-12)
    np.testing.assert_allclose(marked(left, "central differences"), result.grad_b_finite_difference, rtol=1e-7)
    np.testing.assert_allclose(marked(left, "forward mode"), result.grad_b_forward_mode, rtol=1e-7)
    outputs = bar_heights(right)  # y_1(t) and y_2(t) side by side per step
    np.testing.assert_allclose(sorted(outputs.values()), sorted(np.asarray(result.outputs).ravel()), rtol=1e-7)
    assert f"L = {result.loss:.6g}" in right.get_title()


def test_the_lstm_figure_shows_the_measured_gates_and_db_f():
    result = run_lstm()
    left, right = result.figure().axes[:2]
    heights = bar_heights(left)
    np.testing.assert_allclose([heights[x] for x in sorted(heights)], result.grad_b_f_bptt, rtol=1e-12)
    gates = next(i for i in right.get_children() if isinstance(i, AxesImage)).get_array()
    expected = [[s[gate][i] for s in result.steps] for gate in ("f", "g", "q") for i in range(result.sizes["n"])]
    np.testing.assert_allclose(gates, expected, rtol=1e-7)


@pytest.mark.parametrize("run", [run_rnn, run_lstm])
def test_the_notebook_view_has_the_key_numbers_the_figure_and_the_sentences(run):
    result = run()
    view = result._repr_html_()
    assert f"<strong>{result.title}</strong>" in view
    assert f">{result.loss:.4g}<" in view and ">2, 2, 3<" in view  # n, d, T of the assignment
    assert view.count("<img") == 1 and "src='data:image/png;base64," in view
    assert f"<li>{result.finding[0]}" in view.replace("&#x27;", "'").replace("&quot;", '"')
    assert "graph" not in view.split("<img")[0] and len(view) < 80_000  # compact: no graph, no arrays


def test_the_long_sequence_result_is_the_commands_json_and_shows_itself(tiny_longseq, tmp_path, capsys):
    folder, result = tiny_longseq
    assert isinstance(result, LongSeqResult)
    argv = ["longseq", "--lengths", "60", "120", "--distances", "0", "20", "--train-length", "30", "--radii", "0.5", "2",
            "--forget-biases", "0", "1", "--far", "10", "--updates", "3", "--seeds", "2", "--train-count", "32",
            "--test-count", "16", "--esn-size", "20", "--hidden", "8", "--out", str(tmp_path), "--json"]
    printed = command_json(capsys, argv)  # the tiny study's options (tests/recurrent/conftest.py)
    assert printed.pop("answers_file") == str(tmp_path / "longseq_answers.md")
    assert printed.pop("json_file") == str(tmp_path / "longseq.json")
    ours = result.to_json()
    for key in TIMINGS:
        for document in (printed, ours, printed["trained"], ours["trained"]):
            document.pop(key, None)
    assert printed == ours
    view = result._repr_html_()
    longest = [r for r in result.gradients["rnn"] if r["length"] == 120]
    assert f">{longest[0]['rate']['factor_per_step']:.4g}<" in view and view.count("<img") == 1
    assert f"<li>{result.finding[0][:40]}" in view.replace("&#x27;", "'")  # the answers under the figure
    figure = result.figure()
    assert [ax.get_title() for ax in figure.axes][0].startswith("vanilla RNN (eqs. 10.8-10.11), T = 120")


def test_the_echo_state_network_on_a_fasta_file_is_the_commands_json(tmp_path, capsys):
    from nnscope.options.longseq import LongSeqOptions
    from nnscope.recurrent.sequences import generate_motif_sequences, write_fasta_text

    path = tmp_path / "seqs.fa"
    path.write_text(write_fasta_text(generate_motif_sequences(20, 30, 0, seed=3)))
    result = run_longseq(options=LongSeqOptions(fasta=path, esn_size=20))
    assert isinstance(result, FastaESNResult)
    assert result.to_json() == command_json(capsys, ["longseq", "--fasta", str(path), "--esn-size", "20", "--out",
                                                     str(tmp_path / "out"), "--json"])
    bars = bar_heights(result.figure().axes[0])
    assert sorted(bars.values()) == pytest.approx(sorted([result.final["train_accuracy"], result.final["test_accuracy"],
                                                          result.mean["train_accuracy"], result.mean["test_accuracy"]]))
    assert f">{result.final['test_accuracy']:.4g}<" in result._repr_html_()
