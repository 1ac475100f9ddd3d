"""The report's first section for nnscope's checkpoint: train the CNN (or reuse a checkpoint of the same
recipe), describe it."""

import itertools
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from nnscope.data import Digits
from nnscope.errors import NnscopeError
from nnscope.fileio import to_jsonable
from nnscope.model import CNN, model_from_checkpoint, read_checkpoint
from nnscope.options.train import TrainOptions
from nnscope.report.records import figure
from nnscope.train import make_recipe, recipe_dict, run_train

LOSS_POINTS = 60  # the learning curve keeps the mean loss of this many equal runs of steps


def trains(choice) -> bool:
    """Whether the report trains (or reuses, by its recipe and seed) the model of the options `choice`: a path
    nnscope's checkpoints are written to, missing or holding one, not FILE.py:NAME, TorchScript or a torch.export
    .pt2 program (read cheaply, without torch). Any other model is described instead."""
    spec = str(choice.spec)
    head, colon, _ = spec.rpartition(":")
    if spec.lower().endswith(".py") or (colon and head.lower().endswith(".py")):
        return False
    try:
        with zipfile.ZipFile(spec) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return True
    return not any(n.endswith("/archive_format") or "/code/" in n for n in names)  # torch.export or TorchScript


def canonical(value) -> str:
    """JSON text that is the same for equal configs (tuples and lists alike, keys sorted)."""
    return json.dumps(to_jsonable(value), sort_keys=True)


def checkpoint_matches(path: Path, recipe: dict, seed: int) -> bool:
    """Whether `path` holds a readable MNIST checkpoint trained by this recipe with this seed."""
    try:
        state = read_checkpoint(path)
    except NnscopeError:
        return False
    same = canonical(state.get("train_config")) == canonical(recipe)
    return same and state.get("seed") == seed and state.get("metrics", {}).get("dataset") == "mnist"


def keep_aside(path: Path) -> Path | None:
    """Rename a readable checkpoint of another recipe or seed to <name>.<recipe>-seed<seed>.pt (or, when that
    is taken, the first free <name>.<recipe>-seed<seed>.<k>.pt) rather than train over it; returns where it
    went (None if there was nothing to keep). A kept file is never overwritten."""
    try:
        state = read_checkpoint(path)
    except NnscopeError:
        return None  # missing or unreadable: nothing worth keeping (check_paths refuses an unreadable file)
    recipe, seed = state["train_config"].get("name"), state.get("seed")
    recipe = recipe if isinstance(recipe, str) and re.fullmatch(r"[\w-]{1,40}", recipe) else "unknown"
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else "unknown"
    base = f"{path.stem}.{recipe}-seed{seed}"
    for k in itertools.count(1):
        target = path.with_name(f"{base}{'' if k == 1 else f'.{k}'}{path.suffix}")
        try:
            os.link(path, target)  # unlike a rename, fails rather than replace a file created meanwhile
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: rename, having just seen the name free
            if target.exists():
                continue
            path.rename(target)
            return target
        path.unlink()
        return target


def train_or_reuse(digits: Digits, recipe_name: str, seed: int, checkpoint: Path, fresh: bool, on_event) -> dict:
    """The training section: reuse `checkpoint` if its recipe and seed match (and not `fresh`), else train."""
    recipe = make_recipe(recipe_name)
    title = f"training '{recipe.name}'"
    losses = []  # per-step training loss, only when we train here
    matches = checkpoint_matches(checkpoint, recipe_dict(recipe), seed)
    reused, kept = not fresh and matches, None
    if not matches:
        kept = keep_aside(checkpoint)
    if reused:
        on_event({"stage": "training", "title": title, "status": "reused", "seconds": 0.0})
    else:
        on_event({"stage": "training", "title": title, "status": "start"})

        def on_step(s: dict) -> None:
            losses.append(s["loss"])
            on_event({"stage": "training", "title": title, "status": "step", "completed": s["step"],
                      "total": s["steps"], "info": f"loss {s['loss']:.3f}"})

        options = TrainOptions(recipe=recipe_name, seed=seed, device="cpu", checkpoint=checkpoint)
        metrics = run_train(None, digits, options, on_step_done=on_step)  # the entry point of `nnscope train`
        on_event({"stage": "training", "title": title, "status": "done", "seconds": metrics["seconds"]})
    state = read_checkpoint(checkpoint)
    metrics = state["metrics"]
    model = model_from_checkpoint(state, checkpoint)  # the state just read, not a second read of the file
    section = {
        "available": True,
        "reused_checkpoint": reused,
        "other_checkpoint_kept_at": str(kept) if kept else None,
        "recipe": to_jsonable(state["train_config"]),
        "seed": state["seed"],
        "train_accuracy": metrics["train_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "test_errors": round((1 - metrics["test_accuracy"]) * len(digits.test_labels)),
        "seconds": metrics["seconds"],
        "device": metrics["device"],
        "threads": metrics["threads"],
        "processes": metrics["processes"],
        "parameters": metrics["parameters"],
        "conv_layers": metrics["conv_layers"],
        "epochs": metrics["epochs"],
        "history": metrics["history"],
        "layers": architecture(model),
        "loss_curve": loss_curve(losses),
        "versions": state["versions"],
    }
    section["answer"] = training_answer(section)
    return section


def loss_curve(losses: list[float]) -> list[list[float]]:
    """[[step, mean loss], ...]: the mean over LOSS_POINTS equal runs of steps (empty if none)."""
    if not losses:
        return []
    chunks = np.array_split(np.asarray(losses), min(LOSS_POINTS, len(losses)))
    ends = np.cumsum([len(c) for c in chunks])
    return [[int(end), float(c.mean())] for end, c in zip(ends, chunks)]


@torch.no_grad()
def architecture(model: CNN) -> list[dict]:
    """One row per block and for `fc`: name, what it does, output shape (C, H, W) for one image, parameters."""
    _, activations = model.forward_with_activations(torch.zeros(1, 1, 28, 28))
    rows = []
    for i, pool in enumerate(model.config.pool_after, start=1):
        conv, bn = getattr(model, f"conv{i}"), getattr(model, f"bn{i}")
        k = conv.kernel_size[0]
        rows.append({"name": f"conv{i}", "kind": f"conv {k}x{k}, {conv.in_channels} -> {conv.out_channels} channels",
                     "output": list(activations[f"conv{i}"].shape[1:]), "parameters": conv.weight.numel()})
        rows.append({"name": f"relu{i}", "kind": ("max pool 2x2, " if pool else "") + "batch norm, ReLU",
                     "output": list(activations[f"relu{i}"].shape[1:]),
                     "parameters": sum(p.numel() for p in bn.parameters())})
    rows.append({"name": "fc", "kind": f"linear {model.fc.in_features} -> {model.fc.out_features}",
                 "output": [model.fc.out_features], "parameters": sum(p.numel() for p in model.fc.parameters())})
    return rows


def training_answer(s: dict) -> list[str]:
    """The summary in words, built from the measured numbers."""
    asked = 0.95
    verdict = "far above" if s["train_accuracy"] - asked > 0.03 else "above" if s["train_accuracy"] >= asked else "below"
    return [
        f"A CNN with {s['conv_layers']} convolutional layers and {s['parameters']:,} parameters, trained "
        f"for {s['epochs']} epoch{'s' if s['epochs'] != 1 else ''} ({s['recipe']['name']} recipe, seed {s['seed']}) "
        f"in {s['seconds']:.1f} s "
        f"on {s['device']} with {s['threads']} threads.",
        f"It labels {s['train_accuracy']:.2%} of the 60,000 training images correctly, {verdict} the 95% "
        f"the assignment asks, and {s['test_accuracy']:.2%} of the 10,000 test images it never saw "
        f"({s['test_errors']} mistakes).",
    ]


def training_figures(section: dict, out: Path) -> list[dict]:
    """The learning-curve figure, drawn into `out`; returns the figure records for the page."""
    from nnscope.report.figures_training import learning_curve_figure

    path = learning_curve_figure(section["history"], section["loss_curve"], out / "training_curve.png")
    return [figure(out, path, "Learning curve: training loss falling and test accuracy per epoch rising to "
                   f"{section['test_accuracy']:.2%}.", "Training loss per step (when trained by this run) and per "
                   "epoch, and test accuracy after each epoch.")]
