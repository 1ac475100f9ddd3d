"""The checks every options class uses: one wording for 'expected a whole number from 1 to 28'."""

import math
from numbers import Integral, Real

from nnscope.errors import NnscopeError


def whole_number(option: str, value, low: int | None = None, high: int | None = None, unit: str = "") -> int:
    """`value` as an int within [low, high]; else NnscopeError naming `option` and the range."""
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        expected = f"a whole number{unit} from {low} to {high}"
    elif low is not None:
        expected = f"a whole number{unit} >= {low}"
    else:
        expected = f"a whole number{unit}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise NnscopeError(f"{option}: {value!r}; expected {expected}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise NnscopeError(f"{option}: {value}; expected {expected}")
    return int(value)


def real_number(option: str, value, low: float | None = None, high: float | None = None, what: str = "a number",
                open_low: bool = False) -> float:
    """`value` as a finite float within [low, high] (low excluded with `open_low`); else NnscopeError."""
    if low is not None and high is not None:
        expected = f"{what} from {low:g} to {high:g}" if not open_low else f"{what} > {low:g} and <= {high:g}"
    elif low is not None:
        expected = f"{what} {'>' if open_low else '>='} {low:g}"
    else:
        expected = f"a finite {what.removeprefix('a ')}"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise NnscopeError(f"{option}: {value!r}; expected {expected}")
    if (low is not None and (value < low or (open_low and value == low))) or (high is not None and value > high):
        raise NnscopeError(f"{option}: {value:g}; expected {expected}")
    return float(value)


def one_of(option: str, value, choices) -> str:
    """`value` if it is one of `choices`; else NnscopeError listing them."""
    if value not in choices:
        raise NnscopeError(f"{option}: unknown value {value!r}; expected one of {', '.join(map(str, choices))}")
    return value


def ignored(option: str, unless: str) -> str:
    """The line a command logs for an option that does nothing in this mode."""
    return f"note: {option} is ignored without {unless}"
