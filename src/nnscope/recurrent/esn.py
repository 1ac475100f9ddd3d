"""Echo state network: the recurrence of eqs. 10.8-10.11 with W, U, b fixed at random, and only the
readout V, c learned, in closed form, by ridge regression on the reservoir's final or mean state.

Nothing is back-propagated through time, so nothing vanishes or explodes: the price is that the
reservoir must keep the information by itself, which the echo-state property (the state forgets
its initial value) limits to a memory of roughly 1 / (1 - spectral radius) steps.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.recurrent.sequences import AMINO_ACIDS, SequenceSet

FEATURES = ("final", "mean")  # the readout sees h(tau), or the mean of h(t) over the sequence


@dataclass
class EchoStateConfig:
    """The fixed random reservoir and the ridge readout."""

    size: int = 100  # reservoir units: the length of h(t)
    spectral_radius: float = 0.95  # largest |eigenvalue| of W; below 1 the state forgets its start
    input_scaling: float = 1.0  # entries of U uniform in [-input_scaling, input_scaling]
    bias_scaling: float = 0.2  # entries of b uniform in [-bias_scaling, bias_scaling]
    ridge: float = 1e-3  # lambda of the ridge regression that gives V and c (c is not penalised)
    seed: int = 0  # seed of W, U and b

    def check(self) -> "EchoStateConfig":
        """This config, or an error naming the bad field."""
        if self.size < 1:
            raise NnscopeError(f"reservoir size: expected a positive number of units, got {self.size}")
        for name in ("spectral_radius", "input_scaling", "bias_scaling", "ridge"):
            if not getattr(self, name) >= 0:
                raise NnscopeError(f"{name.replace('_', ' ')}: expected a number >= 0, got {getattr(self, name)}")
        return self


def make_reservoir(config: EchoStateConfig) -> dict[str, torch.Tensor]:
    """Random W (scaled to the spectral radius), U and b, float64: the weights that stay fixed."""
    config.check()
    g = torch.Generator().manual_seed(config.seed)
    n = config.size
    W = torch.randn(n, n, generator=g, dtype=torch.float64)
    radius = torch.linalg.eigvals(W).abs().max()
    W = W * (config.spectral_radius / radius)
    U = (torch.rand(n, len(AMINO_ACIDS), generator=g, dtype=torch.float64) * 2 - 1) * config.input_scaling
    b = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * config.bias_scaling
    return {"W": W, "U": U, "b": b}


def echo_state_check(reservoir: dict, steps: int = 1000, starts: int = 8, seed: int = 0,
                     tolerance: float = 1e-8) -> dict:
    """Drive the reservoir with one random sequence from `starts` random initial states and measure
    how fast the states meet: the echo-state property holds when the spread falls below `tolerance`."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, len(AMINO_ACIDS), (1, steps), generator=g).expand(starts, steps)
    h0 = torch.rand(starts, reservoir["W"].shape[0], generator=g, dtype=torch.float64) * 2 - 1
    spread = []  # (steps,) largest distance of a trajectory from the first one
    for t, h in enumerate(iterate_states(reservoir, tokens, h0)):
        spread.append(float((h - h[:1]).norm(dim=1).max()))
    spread = np.array(spread)
    below = np.flatnonzero(spread < tolerance)
    singular = float(torch.linalg.matrix_norm(reservoir["W"], ord=2))
    return {
        "spectral_radius": float(torch.linalg.eigvals(reservoir["W"]).abs().max()),
        "largest_singular_value": singular,
        "sufficient_condition": singular < 1,  # tanh is 1-Lipschitz, so ||W||_2 < 1 is a contraction
        "spread": spread,
        "washout_steps": int(below[0]) + 1 if len(below) else None,
        "holds": bool(len(below) and spread[-1] < tolerance),
        "tolerance": tolerance,
    }


def iterate_states(reservoir: dict, tokens: torch.Tensor, h0: torch.Tensor | None = None):
    """Yield h(t) (N, H) for t = 1..T of the batch `tokens` (N, T), in the weights' dtype; PAD inputs are zero."""
    W, U, b = reservoir["W"], reservoir["U"], reservoir["b"]
    # U x(t) for a one-hot x(t) is a column of U: look it up instead of multiplying; row 20 is PAD
    table = torch.cat([U.T, torch.zeros(1, U.shape[0], dtype=U.dtype)]) + b  # (21, H), b folded in
    tokens = torch.as_tensor(tokens)
    tokens = torch.where(tokens < 0, len(AMINO_ACIDS), tokens).T.contiguous()  # (T, N): one row per step
    h = torch.zeros(tokens.shape[1], W.shape[0], dtype=W.dtype) if h0 is None else h0
    WT = W.T.contiguous()
    for step in tokens:
        h = torch.tanh(torch.addmm(table[step], h, WT))  # a(t) = b + W h(t-1) + U x(t)
        yield h


def reservoir_features(reservoir: dict, sequences: SequenceSet, dtype=torch.float32) -> dict[str, np.ndarray]:
    """The final state h(tau) and the mean state of every sequence, all sequences in one batched pass."""
    weights = {k: v.to(dtype) for k, v in reservoir.items()}
    lengths = torch.as_tensor(sequences.lengths)
    n, size = len(sequences), reservoir["W"].shape[0]
    final = torch.zeros(n, size, dtype=dtype)
    total = torch.zeros(n, size, dtype=dtype)
    ragged = bool((lengths != lengths.max()).any())
    end_steps = set(lengths.tolist())
    for t, h in enumerate(iterate_states(weights, sequences.tokens[:, :int(lengths.max())])):
        total += h * (t < lengths).unsqueeze(1).to(dtype) if ragged else h
        if t + 1 in end_steps:
            ends = lengths == t + 1
            final[ends] = h[ends]
    return {"final": final.double().numpy(), "mean": (total / lengths.unsqueeze(1)).double().numpy()}


def fit_readout(features: np.ndarray, labels: np.ndarray, ridge: float, classes: int = 2) -> dict:
    """V (classes, H) and c (classes,) minimising ||c + V h - onehot(label)||^2 + ridge ||V||^2, in closed form."""
    X = np.hstack([features, np.ones((len(features), 1))])  # (N, H + 1): the last column carries c
    Y = np.eye(classes)[labels]  # (N, classes)
    penalty = np.full(X.shape[1], float(ridge))
    penalty[-1] = 0.0  # the offset c is not shrunk
    weights = np.linalg.solve(X.T @ X + np.diag(penalty), X.T @ Y)  # (H + 1, classes)
    return {"V": weights[:-1].T, "c": weights[-1]}


def readout_predict(readout: dict, features: np.ndarray) -> np.ndarray:
    """Predicted labels: argmax of o = c + V h."""
    return np.argmax(features @ readout["V"].T + readout["c"], axis=1)


def esn_accuracy(train: SequenceSet, test: SequenceSet, config: EchoStateConfig) -> dict:
    """Fit the readout on `train` for each feature kind and measure the accuracy on `test`."""
    reservoir = make_reservoir(config)
    train_features, test_features = reservoir_features(reservoir, train), reservoir_features(reservoir, test)
    out = {"config": asdict(config), "fixed": ["W", "U", "b"], "learned": ["V", "c"]}
    for kind in FEATURES:
        readout = fit_readout(train_features[kind], train.labels, config.ridge)
        out[kind] = {
            "train_accuracy": float(np.mean(readout_predict(readout, train_features[kind]) == train.labels)),
            "test_accuracy": float(np.mean(readout_predict(readout, test_features[kind]) == test.labels)),
        }
    return out
