"""Parameter files: Problem 3's defaults, any n, d, T, and one clear error per kind of bad input."""

import json

import numpy as np
import pytest

from nnscope.errors import NnscopeError
from nnscope.recurrent.params import GATE_MATRICES, PROBLEM3, load_lstm_params, load_rnn_params


def write(tmp_path, data, name="params.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_defaults_are_problem3(tmp_path):
    default, from_file = load_rnn_params(), load_rnn_params(write(tmp_path, PROBLEM3))
    for p in (default, from_file):
        assert p.sizes == {"n": 2, "d": 2, "T": 3}
        np.testing.assert_array_equal(p.W, [[1, -1], [0, 2]])
        np.testing.assert_array_equal(p.x[1], [0.5, 0.25])
        np.testing.assert_array_equal(p.h0, [0, 0])
        assert p.learning_rate == 0.002 and p.epsilon == 1e-4 and p.b.dtype == np.float64


def test_any_sizes_and_optional_fields(tmp_path):
    data = {"b": [0, 0, 0], "c": [1, 2], "W": np.eye(3).tolist(), "U": [[1], [2], [3]], "V": [[1, 2, 3], [4, 5, 6]],
            "x": [[0.1]] * 5, "h0": [1, 2, 3], "learning_rate": 0.5, "epsilon": 1e-3}
    p = load_rnn_params(write(tmp_path, data))
    assert p.sizes == {"n": 3, "d": 1, "T": 5}
    assert p.learning_rate == 0.5 and p.epsilon == 1e-3
    np.testing.assert_array_equal(p.h0, [1, 2, 3])


def test_lstm_defaults_and_own_gate_matrices(tmp_path):
    p = load_lstm_params()
    np.testing.assert_array_equal(p.b_f, [1, 1])
    np.testing.assert_array_equal(p.b_g, [0, 0])
    np.testing.assert_array_equal(p.b_o, [0, 0])
    assert p.cell_activation == "sigmoid" and p.shared == GATE_MATRICES
    assert p.cell()["W_f"] is p.W
    q = load_lstm_params(write(tmp_path, {**PROBLEM3, "U_g": [[2, 0], [0, 2]], "b_f": [2, 3], "cell_activation": "tanh"}))
    assert q.cell_activation == "tanh" and "U_g" not in q.shared
    np.testing.assert_array_equal(q.cell()["U_g"], [[2, 0], [0, 2]])
    np.testing.assert_array_equal(q.b_f, [2, 3])
    assert load_lstm_params(cell_activation="tanh").cell_activation == "tanh"


BAD = [  # (file content, the words the one-line message must hold)
    ('{"b": [1, 2', ["not valid JSON"]),
    ("[1, 2]", ["JSON list found", "expected an object"]),
    ({k: v for k, v in PROBLEM3.items() if k != "V"}, ["missing field", "'V'"]),
    ({**PROBLEM3, "Q": 1}, ["unknown field", "'Q'"]),
    ({**PROBLEM3, "W": [[1, 2, 3], [4, 5, 6]]}, ["field 'W'", "shape (2, 3) found", "expected (n, n) = (2, 2)"]),
    ({**PROBLEM3, "x": [[1, 0, 1]]}, ["field 'x'", "shape (1, 3) found", "expected (T, d) = (T, 2)"]),
    ({**PROBLEM3, "x": []}, ["field 'x'", "empty sequence", "T >= 1"]),
    ({**PROBLEM3, "V": [[1, 2]]}, ["field 'V'", "shape (1, 2) found", "expected (2, n) = (2, 2)"]),
    ({**PROBLEM3, "U": [[1], [2], [3]]}, ["field 'U'", "shape (3, 1) found", "expected (n, d) = (2, d)"]),
    ({**PROBLEM3, "b": []}, ["field 'b'", "shape (0,) found", "n >= 1"]),
    ({**PROBLEM3, "h0": [0, 0, 0]}, ["field 'h0'", "expected (n,) = (2,)"]),
    ({**PROBLEM3, "W": [[1, 2], [3]]}, ["field 'W'", "different shapes"]),
    ({**PROBLEM3, "b": [1, "a"]}, ["field 'b'", 'b[1] is "a"', "expected a number"]),
    ({**PROBLEM3, "c": [True, 1]}, ["field 'c'", "expected a number"]),
    ('{"b": [1, NaN], "c": [0, 0], "W": [[1, 0], [0, 1]], "U": [[1], [1]], "V": [[1, 1], [1, 1]], "x": [[1]]}',
     ["field 'b'", "b[1] is nan", "finite"]),
    (json.dumps({**PROBLEM3, "x": [[1, 0], [1, "BIG"]]}).replace('"BIG"', "1e400"), ["x[1][1] is inf", "finite"]),
    ({**PROBLEM3, "epsilon": 0}, ["field 'epsilon'", "positive"]),
    ({**PROBLEM3, "epsilon": -1e-4}, ["field 'epsilon'", "positive"]),
    ({**PROBLEM3, "learning_rate": "fast"}, ["field 'learning_rate'", "positive"]),
]


@pytest.mark.parametrize("content,words", BAD)
def test_bad_rnn_files_name_the_field(tmp_path, content, words):
    with pytest.raises(NnscopeError) as e:
        load_rnn_params(write(tmp_path, content))
    message = str(e.value)
    assert "\n" not in message and "params.json" in message
    for w in words:
        assert w in message, (w, message)


@pytest.mark.parametrize("content,words", [
    ({**PROBLEM3, "b_f": [1, 1, 1]}, ["field 'b_f'", "shape (3,) found", "expected (n,) = (2,)"]),
    ({**PROBLEM3, "U_o": [[1, 2, 3], [4, 5, 6]]}, ["field 'U_o'", "expected (n, d) = (2, 2)"]),
    ({**PROBLEM3, "W_f": [[1], [2]]}, ["field 'W_f'", "expected (n, n) = (2, 2)"]),
    ({**PROBLEM3, "cell_activation": "relu"}, ["field 'cell_activation'", "sigmoid, tanh"]),
])
def test_bad_lstm_files_name_the_field(tmp_path, content, words):
    with pytest.raises(NnscopeError) as e:
        load_lstm_params(write(tmp_path, content))
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_rnn_refuses_lstm_fields_and_missing_files(tmp_path):
    with pytest.raises(NnscopeError, match="unknown field.*'b_f'"):
        load_rnn_params(write(tmp_path, {**PROBLEM3, "b_f": [1, 1]}))
    with pytest.raises(NnscopeError, match="cannot read"):
        load_rnn_params(tmp_path / "absent.json")


def zeros(*shape):
    return np.zeros(shape).tolist()


@pytest.mark.parametrize("content,words", [
    (json.dumps(PROBLEM3).replace('"b": [-1.0', '"b": [' + "9" * 400), ["field 'b'", "b[0] is an integer of 400 digits"]),
    (json.dumps({**PROBLEM3, "learning_rate": "BIG"}).replace('"BIG"', "1" + "0" * 400),
     ["field 'learning_rate'", "an integer of 401 digits", "positive finite"]),
    (json.dumps({**PROBLEM3, "W": "DEEP"}).replace('"DEEP"', "[" * 50_000 + "]" * 50_000), ["nested too deeply to read"]),
    ({**PROBLEM3, "W": [[[1.0], [0.0]], [[0.0], [1.0]]]}, ["field 'W'", "W[0][0] is a list nested more than 2 deep"]),
    (json.dumps({**PROBLEM3, "learning_rate": float("nan")}), ["field 'learning_rate'", "NaN found"]),
    (json.dumps({**PROBLEM3, "epsilon": float("inf")}), ["field 'epsilon'", "Infinity found"]),
    ({**PROBLEM3, "epsilon": 1e-320}, ["field 'epsilon'", "1e-320 found", "from 1e-10 to 1"]),
    ({**PROBLEM3, "epsilon": 2.0}, ["field 'epsilon'", "from 1e-10 to 1"]),
    ({**PROBLEM3, "b": zeros(5000)}, ["n = 5000 is beyond the size limit n <= 256"]),
    ({**PROBLEM3, "U": zeros(2, 300)}, ["d = 300 is beyond the size limit d <= 256"]),
    ({**PROBLEM3, "x": zeros(1001, 2)}, ["T = 1001 is beyond the size limit T <= 1000"]),
    ({**PROBLEM3, "b": zeros(100), "U": zeros(100, 2), "x": zeros(27, 2)}, ["T*n*n = 270000 is beyond", "<= 262144"]),
])
def test_numbers_nesting_and_sizes_beyond_the_limits(tmp_path, content, words):
    with pytest.raises(NnscopeError) as e:
        load_rnn_params(write(tmp_path, content))
    assert "\n" not in str(e.value) and "params.json" in str(e.value)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_sizes_at_the_limits_and_epsilon_at_its_bounds_are_accepted(tmp_path):
    p = load_rnn_params(write(tmp_path, {**PROBLEM3, "b": zeros(256), "U": zeros(256, 1), "W": zeros(256, 256),
                                         "V": zeros(2, 256), "x": zeros(4, 1), "epsilon": 1e-10}))
    assert p.sizes == {"n": 256, "d": 1, "T": 4} and p.epsilon == 1e-10
    assert load_rnn_params(write(tmp_path, {**PROBLEM3, "epsilon": 1})).epsilon == 1.0


def test_a_file_that_is_not_utf8_or_too_big(tmp_path, monkeypatch):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"b": [1, 2], "note": "caf\xe9"}')
    with pytest.raises(NnscopeError, match=r"latin1.json: not UTF-8 text \(byte 0xe9 at offset 26\)"):
        load_rnn_params(path)
    from nnscope.recurrent import params

    monkeypatch.setattr(params, "MAX_FILE_BYTES", 100)
    with pytest.raises(NnscopeError, match=r"params.json: \d+ bytes, beyond the limit of 100"):
        load_lstm_params(write(tmp_path, PROBLEM3))
