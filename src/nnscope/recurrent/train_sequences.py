"""A vanilla RNN (eqs. 10.8-10.11) and an LSTM trained end to end by BPTT on the motif task, with a
small budget that is the same for both: same hidden size, updates, batch size and learning rate.

Training uses torch's fused recurrent layers and autograd (this is ordinary BPTT, only faster than
the hand-written steps, whose gradients longseq.py measures); the loss is the cross-entropy of
the softmax output on the last step, as a classifier of whole sequences needs.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from nnscope.errors import NnscopeError
from nnscope.recurrent.sequences import AMINO_ACIDS, SequenceSet, one_hot

KINDS = ("rnn", "lstm")


@dataclass
class TrainBudget:
    """What each end-to-end model may spend; the echo state network sees the same training sequences."""

    hidden: int = 32  # units in h(t) (and in the LSTM cell state s(t))
    updates: int = 40  # Adam steps, each on one mini-batch
    batch_size: int = 32  # sequences per update
    learning_rate: float = 0.01  # Adam step size
    clip: float = 1.0  # largest global gradient norm: keeps an exploding RNN gradient from diverging
    forget_bias: float = 1.0  # initial LSTM forget-gate bias: the gate starts mostly open
    seed: int = 0  # initial weights and batch order


class SequenceClassifier(nn.Module):
    """h(t) from an RNN or LSTM over one-hot inputs, then o = c + V h(tau) on the last step."""

    def __init__(self, kind: str, hidden: int, forget_bias: float):
        super().__init__()
        if kind not in KINDS:
            raise NnscopeError(f"model kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        layer = nn.RNN if kind == "rnn" else nn.LSTM
        self.recurrent = layer(len(AMINO_ACIDS), hidden)  # tanh recurrence; gates i, f, g, o for the LSTM
        self.readout = nn.Linear(hidden, 2)  # V, c
        if kind == "lstm":
            with torch.no_grad():  # torch splits the bias in two; the forget gate is the second quarter
                self.recurrent.bias_ih_l0[hidden:2 * hidden] = forget_bias
                self.recurrent.bias_hh_l0[hidden:2 * hidden] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (T, N, 20) -> logits (N, 2) from the last state."""
        states, _ = self.recurrent(x)  # (T, N, hidden)
        return self.readout(states[-1])


def train_classifier(kind: str, train: SequenceSet, test: SequenceSet, budget: TrainBudget,
                     progress=None) -> dict:
    """Train one model within `budget` on equal-length sequences; accuracy on train and test."""
    if len(set(train.lengths.tolist()) | set(test.lengths.tolist())) != 1:
        raise NnscopeError("sequences: end-to-end training needs sequences of one length")
    torch.manual_seed(budget.seed)
    model = SequenceClassifier(kind, budget.hidden, budget.forget_bias)
    optimiser = torch.optim.Adam(model.parameters(), lr=budget.learning_rate)
    rng = np.random.default_rng(budget.seed)
    labels = torch.as_tensor(train.labels)
    losses, grad_norms = [], []
    start = time.perf_counter()
    order = rng.permutation(len(train))
    for step in range(budget.updates):
        if len(order) < budget.batch_size:  # a new shuffled pass over the training set
            order = np.concatenate([order, rng.permutation(len(train))])
        batch, order = order[:budget.batch_size], order[budget.batch_size:]
        loss = nn.functional.cross_entropy(model(one_hot(train.tokens[batch], torch.float32)), labels[batch])
        optimiser.zero_grad()
        loss.backward()
        grad_norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), budget.clip)))
        optimiser.step()
        losses.append(loss.item())
        if progress:
            progress(1, f"{kind} loss {loss.item():.3f}")
    return {
        "kind": kind, "budget": asdict(budget), "losses": np.array(losses), "gradient_norms": np.array(grad_norms),
        "train_accuracy": accuracy(model, train), "test_accuracy": accuracy(model, test),
        "seconds": time.perf_counter() - start, "fixed": [], "learned": ["W", "U", "b", "V", "c"],
    }


@torch.no_grad()
def accuracy(model: SequenceClassifier, sequences: SequenceSet, batch_size: int = 256) -> float:
    """Share of `sequences` whose label the model predicts."""
    correct = 0
    for i in range(0, len(sequences), batch_size):
        logits = model(one_hot(sequences.tokens[i:i + batch_size], torch.float32))
        correct += int((logits.argmax(1) == torch.as_tensor(sequences.labels[i:i + batch_size])).sum())
    return correct / len(sequences)
