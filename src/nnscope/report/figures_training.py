"""The training summary's figure: loss and test accuracy over training (draws only)."""

from pathlib import Path

import matplotlib.pyplot as plt

from nnscope.report.plotting import save_figure


def learning_curve_figure(history: list[dict], loss_curve: list[list[float]], path: str | Path) -> Path:
    """Loss (per step if known, and per epoch) on the left axis, test accuracy per epoch on the right."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8.5, 3.0))
    steps_per_epoch = loss_curve[-1][0] / len(history) if loss_curve else 1.0
    if loss_curve:
        ax_loss.plot([p[0] / steps_per_epoch for p in loss_curve], [p[1] for p in loss_curve],
                     color="#9ab", lw=1.2, label="mean loss over steps")
    epochs = [h["epoch"] for h in history]
    # an epoch's mean loss belongs to the middle of the epoch, where the per-step curve averages to it
    ax_loss.plot([e - 0.5 for e in epochs], [h["loss"] for h in history], "o-", color="#1f4e79",
                 label="mean loss of the epoch")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="training loss")
    ax_loss.set_yscale("log")
    ax_loss.legend(fontsize=8)
    ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in history], "o-", color="#b5452b")
    for e, h in zip(epochs, history):
        ax_acc.annotate(f"{100 * h['test_accuracy']:.2f}%", (e, 100 * h["test_accuracy"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy after each epoch")
    ax_acc.set_xticks(epochs)
    ax_loss.set_xticks([0] + epochs)
    low = min(100 * h["test_accuracy"] for h in history)
    ax_acc.set_ylim(min(low - 0.3, 98.5), 100)
    fig.tight_layout()
    return save_figure(fig, path)
