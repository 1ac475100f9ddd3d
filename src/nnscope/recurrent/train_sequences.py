"""Many small RNNs or LSTMs trained by BPTT at once, as one batch: model m has its own weights, its own
training sequences and its own batch order, and every step of every model runs in one batched matmul.

Each model is the network of eqs. 10.8-10.11 (or the LSTM of eqs. 10.40-10.44 with a tanh cell input)
classifying a whole sequence from its last state: o = c + V h(tau), cross-entropy of softmax(o).
Adam is elementwise, so one Adam over the stacked weights is exactly one Adam per model; the gradient
norm is clipped per model. Gradients come from autograd (ordinary BPTT; longseq.py measures the
hand-written steps).
"""

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.recurrent.sequences import AMINO_ACIDS, SequenceSet

KINDS = ("rnn", "lstm")
INPUTS = len(AMINO_ACIDS)


@dataclass
class TrainBudget:
    """What each end-to-end model may spend; RNN and LSTM get the same."""

    hidden: int = 32  # units in h(t) (and in the LSTM cell state s(t))
    updates: int = 300  # Adam steps, each on one mini-batch
    batch_size: int = 32  # sequences per update
    learning_rate: float = 0.01  # Adam step size
    clip: float = 1.0  # largest gradient norm of one model: keeps an exploding RNN gradient from diverging
    forget_bias: float = 1.0  # initial LSTM forget-gate bias: the gate starts mostly open
    evaluate_every: int = 25  # updates between two test-accuracy points of the learning curve
    seed: int = 0  # initial weights and batch order (model m uses seed + m)


def initial_weights(kind: str, hidden: int, forget_biases: list[float], seed: int) -> dict[str, torch.Tensor]:
    """Stacked weights (models first), float32, uniform in +-1/sqrt(hidden) as torch's RNN and LSTM start;
    the LSTM's gates are stacked f, g, q, z along the last axis of U, W, b."""
    gates = 4 if kind == "lstm" else 1
    bound = 1 / math.sqrt(hidden)
    weights = {}
    for m, forget_bias in enumerate(forget_biases):
        g = torch.Generator().manual_seed(seed + m)
        draw = lambda *shape: (torch.rand(*shape, generator=g) * 2 - 1) * bound  # noqa: E731
        one = {"U": draw(INPUTS + 1, gates * hidden), "W": draw(hidden, gates * hidden), "b": draw(gates * hidden),
               "V": draw(hidden, 2), "c": draw(2)}
        one["U"][INPUTS] = 0.0  # row 20: PAD, a zero input
        if kind == "lstm":
            one["b"][:hidden] = forget_bias  # the forget gate starts open
        for k, v in one.items():
            weights.setdefault(k, []).append(v)
    return {k: torch.stack(v).requires_grad_() for k, v in weights.items()}


def final_states(kind: str, weights: dict, tokens: torch.Tensor) -> torch.Tensor:
    """h(tau) of every model for its sequences: tokens (M, N, T) with PAD as 20 -> (M, N, hidden)."""
    M, N, T = tokens.shape
    hidden = weights["W"].shape[1]
    # U x(t) for a one-hot x(t) is a row of U (row 20 is zero): look it up, b folded in
    inputs = torch.gather(weights["U"], 1, tokens.reshape(M, -1, 1).expand(-1, -1, weights["U"].shape[2]))
    inputs = (inputs + weights["b"][:, None]).reshape(M, N, T, -1)  # (M, N, T, gates * hidden)
    h = torch.zeros(M, N, hidden)
    s = torch.zeros(M, N, hidden)
    for t in range(T):
        a = torch.baddbmm(inputs[:, :, t], h, weights["W"])  # b + U x(t) + W h(t-1), row vectors
        if kind == "rnn":
            h = torch.tanh(a)
        else:
            f, g, q = torch.sigmoid(a[..., :3 * hidden]).split(hidden, dim=-1)
            s = f * s + g * torch.tanh(a[..., 3 * hidden:])
            h = torch.tanh(s) * q
    return h


def logits(kind: str, weights: dict, tokens: torch.Tensor) -> torch.Tensor:
    """o = c + V h(tau): (M, N, 2)."""
    return torch.baddbmm(weights["c"][:, None], final_states(kind, weights, tokens), weights["V"])


def stacked_tokens(sets: list[SequenceSet], rows: list[np.ndarray]) -> torch.Tensor:
    """The chosen rows of each model's sequences as one (M, N, T) tensor, PAD as token 20."""
    tokens = np.stack([s.tokens[r] for s, r in zip(sets, rows)])
    return torch.as_tensor(np.where(tokens < 0, INPUTS, tokens))


@torch.no_grad()
def accuracies(kind: str, weights: dict, sets: list[SequenceSet]) -> np.ndarray:
    """Share of each model's sequences whose label it predicts: (M,)."""
    every = [np.arange(len(s)) for s in sets]
    predicted = logits(kind, weights, stacked_tokens(sets, every)).argmax(-1).numpy()  # (M, N)
    return (predicted == np.stack([s.labels for s in sets])).mean(1)


def train_models(kind: str, train: list[SequenceSet], test: list[SequenceSet], budget: TrainBudget,
                 forget_biases: list[float] | None = None, progress=None) -> dict:
    """Train one model per (train[m], test[m]) pair at once, model m from seed budget.seed + m.

    `forget_biases` (one per model) replaces the budget's initial LSTM forget-gate bias. Returns per model: losses (updates,), gradient norms before clipping, test accuracy every
    `evaluate_every` updates (the learning curve, at update 0 too) and the final train and test accuracy."""
    if kind not in KINDS:
        raise NnscopeError(f"model kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if len({s.tokens.shape[1] for s in train + test}) != 1 or len(train) != len(test):
        raise NnscopeError("sequences: training at once needs one length and a test set for every training set")
    start = time.perf_counter()
    M = len(train)
    biases = [budget.forget_bias] * M if forget_biases is None else list(forget_biases)
    weights = initial_weights(kind, budget.hidden, biases, budget.seed)
    optimiser = torch.optim.Adam(weights.values(), lr=budget.learning_rate)
    orders = [np.random.default_rng(budget.seed + m) for m in range(M)]
    labels = torch.as_tensor(np.stack([s.labels for s in train]))  # (M, N_train)
    losses, norms, curve, at = np.zeros((M, budget.updates)), np.zeros((M, budget.updates)), [], []
    for step in range(budget.updates):
        if step % budget.evaluate_every == 0:
            curve.append(accuracies(kind, weights, test))
            at.append(step)
        rows = [rng.choice(len(s), budget.batch_size, replace=False) for rng, s in zip(orders, train)]
        out = logits(kind, weights, stacked_tokens(train, rows))  # (M, B, 2)
        target = torch.gather(labels, 1, torch.as_tensor(np.stack(rows)))
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, 2), target.reshape(-1), reduction="none")
        loss = loss.reshape(M, -1).mean(1)  # (M,): each model's own loss
        optimiser.zero_grad()
        loss.sum().backward()  # the models share nothing, so each gets the gradient of its own loss
        norm = torch.sqrt(sum((w.grad ** 2).flatten(1).sum(1) for w in weights.values()))  # (M,)
        scale = (budget.clip / (norm + 1e-6)).clamp(max=1.0)
        for w in weights.values():
            w.grad *= scale.reshape(-1, *[1] * (w.dim() - 1))
        optimiser.step()
        losses[:, step], norms[:, step] = loss.detach().numpy(), norm.numpy()
        if progress:
            progress(1, f"{kind} loss {float(loss.detach().mean()):.3f}")
    curve.append(accuracies(kind, weights, test))
    at.append(budget.updates)
    curve = np.stack(curve, axis=1)  # (M, points)
    return {"kind": kind, "budget": asdict(budget), "losses": losses, "gradient_norms": norms,
            "curve_updates": at, "test_curve": curve, "test_accuracy": curve[:, -1],
            "train_accuracy": accuracies(kind, weights, train), "seconds": time.perf_counter() - start}
