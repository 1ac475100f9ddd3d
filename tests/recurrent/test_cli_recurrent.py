"""`nnscope rnn` and `nnscope lstm` through the command line: JSON keys, tables, --explain, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from nnscope.cli import main
from nnscope.recurrent.params import PROBLEM3

RNN_KEYS = {"outputs", "loss", "grad_b_finite_difference", "grad_b_bptt", "grads", "b_after_step",
            "loss_after_step", "steps"}
LSTM_KEYS = {"outputs", "loss", "grad_b_f_bptt", "grad_b_f_finite_difference", "grads", "steps"}


def run_json(capsys, argv) -> dict:
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON document on stdout


def test_rnn_json_has_the_issue_keys_and_problem3_figures(capsys):
    result = run_json(capsys, ["rnn", "--json"])
    assert RNN_KEYS <= set(result)
    assert set(result["grads"]) == {"b", "c", "W", "U", "V"}
    assert np.asarray(result["outputs"]).shape == (3, 2)
    assert result["loss"] == pytest.approx(3.007207986556634, abs=1e-15)
    assert result["loss_after_step"] == pytest.approx(3.00683079577, abs=5e-12)
    np.testing.assert_allclose(result["grad_b_finite_difference"], [-0.009961388, 0.434009955], atol=5e-10)
    assert [s["t"] for s in result["steps"]] == [1, 2, 3]
    assert {"x", "a", "h", "o", "y", "dL_dh", "dL_da", "da_db", "dh_db"} <= set(result["steps"][0])
    # the per-step shares of dL/db add up to the total
    np.testing.assert_allclose(np.sum([s["dL_db_contribution"] for s in result["steps"]], axis=0),
                               result["grad_b_bptt"], rtol=1e-14)


def test_lstm_json_has_the_issue_keys(capsys):
    result = run_json(capsys, ["lstm", "--json"])
    assert LSTM_KEYS <= set(result)
    assert set(result["grads"]) == {"b_f", "b_g", "b_o", "b", "c", "V", "U", "W"}
    step = result["steps"][2]
    assert {"f", "g", "q", "cell_input", "s", "h", "dL_dh", "dL_ds", "dL_df", "dL_db_f_contribution"} <= set(step)
    assert result["cell_activation"] == "sigmoid"
    assert any("Jozefowicz" in line for line in result["bias_choice"])
    tanh = run_json(capsys, ["lstm", "--json", "--cell-activation", "tanh"])
    assert tanh["cell_activation"] == "tanh" and tanh["loss"] != result["loss"]


def test_rnn_tables_label_values_and_explain_adds_formulas(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: no formula wrapped across lines
    assert main(["rnn"]) == 0
    plain = capsys.readouterr().out
    for label in ("h(2)", "a(3)", "y(1)", "dL/da(3)", "dL/dh(1)", "dh(3)/db", "3.007207986556634"):
        assert label in plain, label
    assert "tanh(a(2))" not in plain
    assert main(["rnn", "--explain"]) == 0
    explained = capsys.readouterr().out
    for formula in ("tanh(a(2))", "b + W h(1) + U x(2)", "Wᵀ dL/da(3)", "dL/dh(2) ⊙ (1 − h(2)²)", "I + W dh(1)/db"):
        assert formula in explained, formula


def test_lstm_tables_and_explain(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["lstm", "--explain"]) == 0
    out = capsys.readouterr().out
    for text in ("f(3)", "s(2)", "dL/ds(1)", "dL/df(2)", "dL/db_f", "f(3) ⊙ s(2) + g(3) ⊙ cell input(3)",
                 "dL/ds(2) ⊙ s(1)", "central differences"):
        assert text in out, text


def test_params_file_with_other_sizes(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"b": [0.1, -0.2, 0.3], "c": [0, 0], "W": np.eye(3).tolist(), "U": [[1], [0], [-1]],
                                "V": [[1, 0, 0], [0, 1, 0]], "x": [[0.5]] * 7}))
    result = run_json(capsys, ["rnn", "--json", "--params", str(path)])
    assert np.asarray(result["outputs"]).shape == (7, 2) and len(result["grad_b_bptt"]) == 3
    assert result["bptt_vs_finite_difference_relative_error"] < 1e-6  # eps = 1e-4: O(eps^2) error
    lstm = run_json(capsys, ["lstm", "--json", "--params", str(path)])
    assert np.asarray(lstm["grads"]["U"]).shape == (3, 1)


@pytest.mark.parametrize("command", ["rnn", "lstm"])
@pytest.mark.parametrize("content,words", [
    ("{not json", ["not valid JSON"]),
    (json.dumps({**PROBLEM3, "W": [[1, 2]]}), ["field 'W'", "(1, 2) found", "(n, n) = (2, 2)"]),
    (json.dumps({**PROBLEM3, "x": []}), ["field 'x'", "empty sequence"]),
    (json.dumps({**PROBLEM3, "epsilon": -1}), ["field 'epsilon'"]),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, command, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main([command, "--params", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nnscope {command}: error: --params ")
    for w in words:
        assert w in lines[0]


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**PROBLEM3, "V": [[1, 2, 3], [4, 5, 6]]}))
    proc = subprocess.run([sys.executable, "-m", "nnscope", "rnn", "--params", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "field 'V'" in proc.stderr and "(2, n) = (2, 2)" in proc.stderr


def test_overflow_is_reported_not_printed_as_nan(tmp_path, capsys):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({**PROBLEM3, "V": [[-2, 1], [-1e300, 0]]}))
    assert main(["lstm", "--params", str(path)]) == 2
    assert "not finite" in capsys.readouterr().err


def test_run_functions_give_the_command_json_with_finding_and_no_figures(capsys):
    from nnscope.fileio import to_jsonable
    from nnscope.options.lstm import LSTMOptions
    from nnscope.recurrent.lstm import run_lstm
    from nnscope.recurrent.rnn import run_rnn

    rnn, lstm = run_rnn(), run_lstm(options=LSTMOptions(cell_activation="tanh"))
    assert to_jsonable(rnn) == run_json(capsys, ["rnn", "--json"])
    assert to_jsonable(lstm) == run_json(capsys, ["lstm", "--json", "--cell-activation", "tanh"])
    assert rnn["figures"] == [] == lstm["figures"]
    g = np.asarray(rnn["grad_b_bptt"])  # the first-order change of L for the step b - eta g: -eta |g|^2
    assert rnn["loss_change_first_order_prediction"] == pytest.approx(-0.002 * float(g @ g), rel=1e-15)
    assert "3.007207986" in rnn["finding"][0] and "relative error 3.2e-09" in rnn["finding"][1]
    assert lstm["finding"][:3] == lstm["bias_choice"] and "cell activation tanh" in lstm["bias_choice"][2]
    np.testing.assert_allclose(lstm["gates_with_zero_input"]["f"], 1 / (1 + np.exp(-1.0)), rtol=1e-15)


def test_human_views_end_with_the_finding(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    for command, text in (("rnn", "b_2 matters most"), ("lstm", "lower than the RNN's 3.00720798656")):
        assert main([command]) == 0
        assert text in capsys.readouterr().out, command


def test_options_name_the_option_from_python():
    from nnscope.errors import NnscopeError
    from nnscope.options.lstm import LSTMOptions
    from nnscope.options.rnn import RNNOptions

    with pytest.raises(NnscopeError, match=r"^--cell-activation: unknown value 'relu'; expected one of sigmoid, tanh$"):
        LSTMOptions(cell_activation="relu").check()
    with pytest.raises(NnscopeError, match=r"^--params: 3; expected the path of a JSON parameter file$"):
        RNNOptions(params=3).check()


@pytest.mark.parametrize("command", ["rnn", "lstm"])
def test_a_folder_as_params_is_one_line(tmp_path, capsys, command):
    assert main([command, "--params", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"nnscope {command}: error: --params: {tmp_path} is a folder; expected a JSON parameter file\n"


def test_the_check_heading_says_checked_only_when_the_gradients_agree():
    from rich.console import Console

    from nnscope.cli.rnn import gradient_check_table
    from nnscope.recurrent.rnn import run_rnn

    result = run_rnn()
    agree = gradient_check_table(result, "b", explain=False).title
    assert agree == "dL/db: unfolding through time checked by central differences"
    broken = {**result, "grad_b_finite_difference": [0.0, 0.0], "bptt_vs_finite_difference_relative_error": 1.0}
    table = gradient_check_table(broken, "b", explain=False)
    assert "checked" not in table.title and "DISAGREE (relative error 1.0e+00" in table.title
    Console(file=open("/dev/null", "w")).print(table)  # renders
