"""Output layer o = c + V h, y = softmax(o), and the custom loss of Problem 3 on the last step.

    L = (y_1(tau) - 0.5)^2 - log y_2(tau)

Forward and backward sit side by side; everything works on numpy arrays and torch tensors,
with an optional leading batch dimension (row vectors: o = c + h @ V.T).
"""

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.recurrent import ops


def output_forward(V, c, h):
    """(2, n), (2,), (..., n) -> o (..., 2), y (..., 2)."""
    o = c + h @ V.T
    return o, ops.softmax(o)


def output_backward(V, h, do):
    """dL/do (..., 2) -> dL/dh (..., n), dL/dV (2, n), dL/dc (2,), parameter grads summed over the batch."""
    return do @ V, ops.outer_sum(do, h), ops.batch_sum(do)


def custom_loss(y):
    """L = (y_1 - 0.5)^2 - log y_2 for y (..., 2); one loss per sequence."""
    return (y[..., 0] - 0.5) ** 2 - ops.log(y[..., 1])


def custom_loss_backward(y):
    """dL/dy and dL/do (..., 2): dL/do_k = y_k (dL/dy_k - sum_j y_j dL/dy_j), the softmax Jacobian."""
    dy = ops.stack_last([2.0 * (y[..., 0] - 0.5), -1.0 / y[..., 1]])
    mean = (dy * y).sum(-1)[..., None]  # sum_j y_j dL/dy_j, (..., 1)
    return dy, y * (dy - mean)


def _non_finite(value, where: str) -> str | None:
    """The first key path holding NaN or infinity, or None."""
    if isinstance(value, dict):
        return next((bad for k, v in value.items() if (bad := _non_finite(v, f"{where}.{k}" if where else k))), None)
    if isinstance(value, (list, tuple)) and not all(isinstance(v, (int, float)) for v in value):
        return next((bad for i, v in enumerate(value) if (bad := _non_finite(v, f"{where}[{i}]"))), None)
    if isinstance(value, (float, list, tuple, np.ndarray, np.floating)):
        return None if np.all(np.isfinite(np.asarray(value, dtype=np.float64))) else where
    return None


def require_finite(result: dict) -> dict:
    """`result` itself, or NnscopeError when float64 overflowed (say y_2(T) rounded to 0)."""
    bad = _non_finite(result, "")
    if bad:
        raise NnscopeError(f"'{bad}' is not finite in float64 (a value overflowed or y_2(T) rounded to 0, "
                           f"so log y_2(T) = -inf): expected parameters and inputs small enough, say |value| < 100")
    return result
