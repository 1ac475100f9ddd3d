"""Elementwise and reduction helpers that work on numpy float64 arrays and on torch tensors alike.

The cell functions of rnn.py and lstm.py use only these, `@`, `*`, `+` and `.T`, so the same code
runs one sequence in numpy (the worked solutions) and a batch on a GPU in torch (long sequences).
"""

import numpy as np
import torch


def is_torch(a) -> bool:
    """True for a torch tensor."""
    return isinstance(a, torch.Tensor)


def tanh(a):
    """Hyperbolic tangent."""
    return torch.tanh(a) if is_torch(a) else np.tanh(a)


def sigmoid(a):
    """Logistic function; the tanh form never overflows in numpy."""
    return torch.sigmoid(a) if is_torch(a) else 0.5 * (1.0 + np.tanh(0.5 * a))


def log(a):
    """Natural logarithm."""
    return torch.log(a) if is_torch(a) else np.log(a)


def softmax(o):
    """Softmax over the last axis, shifted by the maximum so that exp never overflows."""
    if is_torch(o):
        return torch.softmax(o, dim=-1)
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def stack_last(parts: list):
    """Stack equally shaped arrays along a new last axis."""
    return torch.stack(parts, dim=-1) if is_torch(parts[0]) else np.stack(parts, axis=-1)


def batch_sum(v):
    """(..., m) -> (m,): a parameter gradient summed over any leading batch dimensions."""
    return v.reshape(-1, v.shape[-1]).sum(0)


def outer_sum(u, v):
    """(..., m), (..., k) -> (m, k): the outer products u v^T summed over the batch."""
    return u.reshape(-1, u.shape[-1]).T @ v.reshape(-1, v.shape[-1])
