"""Central differences: the gradient a person can estimate with a calculator, and error measures."""

from typing import Callable

import numpy as np


def central_difference(loss: Callable[[np.ndarray], float], value: np.ndarray, epsilon: float) -> np.ndarray:
    """dL/dvalue entry by entry: (L(v + eps e_i) - L(v - eps e_i)) / (2 eps); error O(eps^2)."""
    value = np.asarray(value, dtype=np.float64)
    grad = np.zeros_like(value)
    for i in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[i] += epsilon
        down[i] -= epsilon
        grad[i] = (loss(up) - loss(down)) / (2.0 * epsilon)
    return grad


def parameter_gradient(params, loss: Callable, name: str, epsilon: float | None = None) -> np.ndarray:
    """Central-difference dL/d`name` of a params dataclass; `epsilon` defaults to the file's."""
    eps = params.epsilon if epsilon is None else epsilon
    return central_difference(lambda v: loss(params.with_value(name, v)), getattr(params, name), eps)


def relative_error(a, b) -> float:
    """||a - b|| / max(||a||, ||b||), 0 when both are 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0
