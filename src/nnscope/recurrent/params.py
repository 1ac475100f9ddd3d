"""Parameter files of Problems 3 and 5: loading, shape checks in terms of n, d, T, defaults."""

import contextlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nnscope.errors import NnscopeError

# Problem 3 of MISSION.md: n = 2 hidden units, d = 2 inputs, T = 3 steps, two outputs
PROBLEM3 = {
    "b": [-1.0, 1.0],
    "c": [0.5, -0.5],
    "W": [[1.0, -1.0], [0.0, 2.0]],
    "U": [[-1.0, 0.0], [1.0, -2.0]],
    "V": [[-2.0, 1.0], [-1.0, 0.0]],
    "x": [[1.0, 0.0], [0.5, 0.25], [0.0, 1.0]],
}
# Size limits: the worked solution prints every number, and its central differences cost about
# 2 n forward passes of T n^2 multiply-adds each (x4 for the LSTM's gates): beyond these limits a
# run would take minutes and its JSON hundreds of megabytes (at the limits: a few seconds and 12 MB),
# so the file is refused at once.
MAX_HIDDEN = 256  # n, hidden units
MAX_INPUTS = 256  # d, inputs per step
MAX_STEPS = 1000  # T, time steps
MAX_WORK = 2**18  # T * n * n: one forward pass through W, and the numbers the per-step table prints (~40 B each)
MAX_FILE_BYTES = 16 * 2**20  # a file within the limits above takes a few MB of JSON
EPSILON_RANGE = (1e-10, 1.0)  # below ~1e-10, b + eps rounds back to b and the differences are noise or 0
CELL_ACTIVATIONS = ("sigmoid", "tanh")  # sigmoid: the book's eq. 10.41; tanh: the common variant
GATE_MATRICES = ("U_f", "W_f", "U_g", "W_g", "U_o", "W_o")


@dataclass(frozen=True)
class RNNParams:
    """The recurrent network of DL book eqs. 10.8-10.11 and one input sequence (float64)."""

    b: np.ndarray  # (n,) hidden bias
    c: np.ndarray  # (2,) output bias
    W: np.ndarray  # (n, n) hidden-to-hidden
    U: np.ndarray  # (n, d) input-to-hidden
    V: np.ndarray  # (2, n) hidden-to-output
    x: np.ndarray  # (T, d) the sequence x(1..T)
    h0: np.ndarray  # (n,) initial state h(0), zeros unless given
    learning_rate: float = 0.002  # for the one gradient-descent step on b
    epsilon: float = 1e-4  # half-width of the central differences

    @property
    def sizes(self) -> dict[str, int]:
        """n hidden units, d inputs, T time steps."""
        return {"n": len(self.b), "d": self.U.shape[1], "T": len(self.x)}

    def with_value(self, name: str, value: np.ndarray) -> "RNNParams":
        """A copy with field `name` replaced (used by finite differences and the gradient step)."""
        return replace(self, **{name: value})


@dataclass(frozen=True)
class LSTMParams(RNNParams):
    """RNNParams plus the gates of DL book eqs. 10.40-10.44; a gate matrix left None shares U or W."""

    s0: np.ndarray | None = None  # (n,) initial cell state s(0), zeros unless given
    b_f: np.ndarray | None = None  # (n,) forget-gate bias, default 1 (gate starts open)
    b_g: np.ndarray | None = None  # (n,) input-gate bias, default 0
    b_o: np.ndarray | None = None  # (n,) output-gate bias, default 0
    U_f: np.ndarray | None = None  # (n, d) or None: use U
    W_f: np.ndarray | None = None  # (n, n) or None: use W
    U_g: np.ndarray | None = None
    W_g: np.ndarray | None = None
    U_o: np.ndarray | None = None
    W_o: np.ndarray | None = None
    cell_activation: str = "sigmoid"  # squashing of the cell input: "sigmoid" (book) or "tanh"

    def cell(self) -> dict[str, np.ndarray]:
        """The twelve arrays one LSTM step needs, shared matrices resolved to U and W."""
        cell = {"b": self.b, "U": self.U, "W": self.W, "b_f": self.b_f, "b_g": self.b_g, "b_o": self.b_o}
        for name in GATE_MATRICES:
            own = getattr(self, name)
            cell[name] = own if own is not None else getattr(self, name[0])
        return cell

    @property
    def shared(self) -> tuple[str, ...]:
        """Gate matrices not given in the file, hence equal to U or W."""
        return tuple(name for name in GATE_MATRICES if getattr(self, name) is None)


def _shape_text(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _nested_shape(value, where: str, name: str, want: str, depth: int = 0) -> tuple[int, ...]:
    """Shape of a nested list of numbers; refuses ragged or over-deep lists, strings, booleans, NaN,
    infinity and integers too large for a float."""
    if isinstance(value, list):
        if depth == 2:  # every field is a vector or a matrix
            raise NnscopeError(f"field '{name}': entry {name}{where} is a list nested more than 2 deep, expected {want}")
        if not value:
            return (0,)
        shapes = {_nested_shape(v, f"{where}[{i}]", name, want, depth + 1) for i, v in enumerate(value)}
        if len(shapes) > 1:
            found = " and ".join(_shape_text(s) for s in sorted(shapes))
            raise NnscopeError(f"field '{name}': entries of {name}{where} have different shapes {found}, "
                               f"expected {want}")
        return (len(value),) + shapes.pop()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NnscopeError(f"field '{name}': entry {name}{where} is {json.dumps(value)} "
                           f"({type(value).__name__}), expected a number")
    if not _finite(value):
        shown = value if isinstance(value, float) else f"an integer of {len(str(abs(value)))} digits"
        raise NnscopeError(f"field '{name}': entry {name}{where} is {shown}, expected a finite number")
    return ()


def _finite(value: int | float) -> bool:
    """Whether `value` is a number a float64 can hold (JSON integers have no size limit)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _array(data: dict, name: str, expected: tuple, symbols: tuple[str, ...], sizes: dict[str, int]) -> np.ndarray:
    """`data[name]` as a float64 array of shape `expected` (None: any size >= 1), named by `symbols`."""
    want = _shape_text(symbols)
    if any(s in sizes for s in symbols):
        want += " = " + _shape_text([sizes.get(s, s) for s in symbols])
    free = [s for s, e in zip(symbols, expected) if e is None]
    want += "".join(f" with {s} >= 1" for s in free)
    shape = _nested_shape(data[name], "", name, want)
    if len(shape) != len(expected) or not all(e is None and s >= 1 or e == s for s, e in zip(shape, expected)):
        empty = " (an empty sequence)" if name == "x" and shape[:1] == (0,) else ""
        raise NnscopeError(f"field '{name}': shape {_shape_text(shape)} found{empty}, expected {want}")
    return np.array(data[name], dtype=np.float64).reshape(shape)


def _positive(data: dict, name: str, default: float, bounds: tuple[float, float] = (0.0, math.inf)) -> float:
    """A positive finite number within `bounds` (inclusive; the lower bound 0 itself excluded)."""
    value = data.get(name, default)
    low, high = bounds
    within = not isinstance(value, bool) and isinstance(value, (int, float)) and _finite(value) and value > 0
    if not within or not low <= value <= high:
        shown = json.dumps(value) if not isinstance(value, int) or _finite(value) else f"an integer of {len(str(value))} digits"
        limits = f" from {low:g} to {high:g}" if high < math.inf else ""
        raise NnscopeError(f"field '{name}': {shown} found, expected a positive finite number{limits}")
    return float(value)


def _check_size(symbol: str, size: int, limit: int) -> None:
    if size > limit:
        raise NnscopeError(f"{symbol} = {size} is beyond the size limit {symbol} <= {limit} (hidden units n <= "
                           f"{MAX_HIDDEN}, inputs d <= {MAX_INPUTS}, steps T <= {MAX_STEPS}, T*n*n <= {MAX_WORK})")


def _read(path: Path | None, allowed: tuple[str, ...]) -> dict:
    """The JSON object of the file (or Problem 3's values); refuses unknown and missing fields."""
    if path is None:
        return dict(PROBLEM3)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise NnscopeError(f"--params {path}: {size:,} bytes, beyond the limit of {MAX_FILE_BYTES:,}; "
                               f"expected n <= {MAX_HIDDEN} hidden units, d <= {MAX_INPUTS} inputs, T <= {MAX_STEPS} steps")
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise NnscopeError(f"--params {path}: cannot read the file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise NnscopeError(f"--params {path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                           "expected a JSON file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NnscopeError(f"--params {path}: not valid JSON: {e}") from None
    except RecursionError:
        raise NnscopeError(f"--params {path}: lists nested too deeply to read; expected vectors and matrices") from None
    if not isinstance(data, dict):
        raise NnscopeError(f"--params {path}: a JSON {type(data).__name__} found, expected an object with "
                           f"fields {', '.join(PROBLEM3)}")
    missing = [k for k in PROBLEM3 if k not in data]
    if missing:
        raise NnscopeError(f"--params {path}: missing field(s) {', '.join(map(repr, missing))}; "
                           f"required: {', '.join(PROBLEM3)}")
    extra = [k for k in data if k not in allowed]
    if extra:
        raise NnscopeError(f"--params {path}: unknown field(s) {', '.join(map(repr, extra))}; "
                           f"allowed: {', '.join(allowed)}")
    return data


def _common(data: dict) -> dict:
    """The fields the RNN and the LSTM share, checked in an order that fixes n, then d, then T."""
    b = _array(data, "b", (None,), ("n",), {})
    n = len(b)
    _check_size("n", n, MAX_HIDDEN)  # each size as soon as it is known, before the big fields are read
    U = _array(data, "U", (n, None), ("n", "d"), {"n": n})
    d = U.shape[1]
    _check_size("d", d, MAX_INPUTS)
    sizes = {"n": n, "d": d}
    x = _array(data, "x", (None, d), ("T", "d"), sizes)
    _check_size("T", len(x), MAX_STEPS)
    _check_size("T*n*n", len(x) * n * n, MAX_WORK)
    values = {
        "b": b, "U": U,
        "c": _array(data, "c", (2,), ("2",), sizes),
        "W": _array(data, "W", (n, n), ("n", "n"), sizes),
        "V": _array(data, "V", (2, n), ("2", "n"), sizes),
        "x": x,
        "h0": _array(data, "h0", (n,), ("n",), sizes) if "h0" in data else np.zeros(n),
        "learning_rate": _positive(data, "learning_rate", 0.002),
        "epsilon": _positive(data, "epsilon", 1e-4, EPSILON_RANGE),
    }
    return values


RNN_FIELDS = tuple(PROBLEM3) + ("h0", "learning_rate", "epsilon")
LSTM_FIELDS = RNN_FIELDS + ("s0", "b_f", "b_g", "b_o") + GATE_MATRICES + ("cell_activation",)


@contextlib.contextmanager
def _naming(path: Path | None):
    """Prefix a field's error with the file it came from."""
    try:
        yield
    except NnscopeError as e:
        if path is None:
            raise
        raise NnscopeError(f"--params {path}: {e}") from None


def load_rnn_params(path: str | Path | None = None) -> RNNParams:
    """Parameters from a JSON file, or Problem 3's values when `path` is None."""
    data = _read(path, RNN_FIELDS)
    with _naming(path):
        return RNNParams(**_common(data))


def load_lstm_params(path: str | Path | None = None, cell_activation: str | None = None) -> LSTMParams:
    """LSTM parameters from a JSON file (or Problem 3's values plus default gate biases)."""
    data = _read(path, LSTM_FIELDS)
    with _naming(path):
        return _lstm_params(data, cell_activation)


def _lstm_params(data: dict, cell_activation: str | None) -> LSTMParams:
    values = _common(data)
    n, d = len(values["b"]), values["U"].shape[1]
    sizes = {"n": n, "d": d}
    values["s0"] = _array(data, "s0", (n,), ("n",), sizes) if "s0" in data else np.zeros(n)
    # forget gate open at the start (Jozefowicz, Zaremba, Sutskever 2015); other gates half open
    for name, default in (("b_f", 1.0), ("b_g", 0.0), ("b_o", 0.0)):
        values[name] = _array(data, name, (n,), ("n",), sizes) if name in data else np.full(n, default)
    for name in GATE_MATRICES:
        if name in data:
            cols = "n" if name[0] == "W" else "d"
            values[name] = _array(data, name, (n, sizes[cols]), ("n", cols), sizes)
    activation = cell_activation or data.get("cell_activation", "sigmoid")
    if activation not in CELL_ACTIVATIONS:
        shown = json.dumps(activation) if isinstance(activation, str) else f"a JSON {type(activation).__name__}"
        raise NnscopeError(f"field 'cell_activation': {shown} found, "
                           f"expected one of {', '.join(CELL_ACTIVATIONS)}")
    return LSTMParams(**values, cell_activation=activation)

