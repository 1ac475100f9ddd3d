"""Recipes and the training loop: whole data set as tensors in memory, one-cycle Adam, returns metrics.

The data set lives as one tensor (no DataLoader); each epoch is a fresh seeded permutation.
Under torchrun each rank trains on its shard of every permutation (DistributedDataParallel).
"""

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional as F

from nnscope import distributed
from nnscope.data import Digits, as_float_images
from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig, check_checkpoint_target, count_parameters, save_checkpoint
from nnscope.options.train import TrainOptions
from nnscope.progress import Progress, no_progress


@dataclass(frozen=True)
class Recipe:
    """How to train: everything that changes the weights, saved in the checkpoint."""

    name: str
    epochs: int = 2  # passes over the 60,000 training images
    batch_size: int = 128  # images per optimiser step, over all ranks together
    max_lr: float = 0.01  # Adam's peak learning rate in the one-cycle schedule
    warmup: float = 0.25  # share of the steps spent raising the learning rate to max_lr
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay per step, times the learning rate
    label_smoothing: float = 0.0  # target probability taken from the true class and spread evenly
    shift_pixels: int = 0  # augmentation: random shifts of up to this many pixels in x and y
    channels_last: bool = True  # NHWC memory layout: oneDNN's fast path on CPU, ~1.6x per step here
    bf16: bool = False  # bfloat16 autocast for the forward pass: ~1.3x more on CPUs with AMX / AVX512-BF16
    model: CNNConfig = field(default_factory=CNNConfig)


RECIPES = {
    # ~4 s on 2 CPU cores for 99.0% test accuracy (mean of 5 seeds); see benchmarks/train_speed.py
    "fast": Recipe("fast", epochs=1, batch_size=256, max_lr=0.02, warmup=0.2, label_smoothing=0.1, bf16=True,
                   model=CNNConfig(channels=(10, 20, 40))),
    # what `make report` uses: >= 99.3% test accuracy in about a minute
    "default": Recipe("default", epochs=3, batch_size=128, max_lr=0.01, label_smoothing=0.05),
    # small random shifts make it robust and push it towards 99.6%
    "best": Recipe("best", epochs=8, batch_size=128, max_lr=0.01, label_smoothing=0.05, shift_pixels=2,
                   weight_decay=5e-4, model=CNNConfig(channels=(32, 64, 128))),
}

StepCallback = Callable[[dict], None]  # receives {'epoch', 'step', 'steps', 'loss', 'images_per_second'}


def make_recipe(name: str = "default", epochs: int | None = None, batch_size: int | None = None) -> Recipe:
    """A named recipe, with epochs or batch size overridden where given."""
    if name not in RECIPES:
        raise NnscopeError(f"--recipe: unknown recipe {name!r}; expected one of {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    if epochs is not None:
        if epochs < 1:
            raise NnscopeError(f"--epochs: {epochs}; expected a whole number >= 1")
        recipe = replace(recipe, epochs=epochs)
    if batch_size is not None:
        if not 1 <= batch_size <= 60_000:
            raise NnscopeError(f"--batch-size: {batch_size}; expected a whole number from 1 to 60000")
        recipe = replace(recipe, batch_size=batch_size)
    return recipe


def pick_device(name: str = "auto") -> torch.device:
    """'auto' takes the GPU when there is one; asking for 'cuda' without one is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise NnscopeError(f"--device: unknown device {name!r}; expected auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise NnscopeError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and distributed.world_size() > 1:
        return torch.device("cuda", distributed.local_rank())
    return torch.device(name)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by a random (dy, dx) in [-max_shift, max_shift], filling with black."""
    n = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4)  # (N, 1, 28 + 2s, 28 + 2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = offsets[0, :, None] + torch.arange(28)  # (N, 28)
    cols = offsets[1, :, None] + torch.arange(28)
    batch = torch.arange(n)[:, None, None]
    return padded[:, 0][batch, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> float:
    """Share of `images` (N, 1, 28, 28) the model labels correctly, in eval mode."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        correct += (model(images[i : i + batch]).argmax(1) == labels[i : i + batch]).sum().item()
    model.train(was_training)
    return correct / len(images)


def train(
    digits: Digits,
    recipe: Recipe,
    seed: int = 0,
    device: str = "auto",
    on_step: StepCallback | None = None,
    on_epoch: StepCallback | None = None,
) -> tuple[CNN, dict]:
    """Train a CNN by `recipe` on `digits`; return the model (eval mode, CPU) and its metrics."""
    torch.manual_seed(seed)
    dev = pick_device(device)
    rank, world = distributed.rank(), distributed.world_size()
    if recipe.batch_size % world:
        raise NnscopeError(f"--batch-size: {recipe.batch_size} does not split over {world} processes")
    model = CNN(recipe.model).to(dev)
    layout = torch.channels_last if recipe.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    net = distributed.wrap(model, dev)
    train_x = as_float_images(digits.train_images).to(dev).contiguous(memory_format=layout)
    train_y = torch.from_numpy(digits.train_labels).long().to(dev)
    test_x, test_y = as_float_images(digits.test_images).to(dev), torch.from_numpy(digits.test_labels).long().to(dev)
    n = len(train_x)
    steps_per_epoch = n // recipe.batch_size  # the last partial batch is dropped: every step the same size
    total_steps = steps_per_epoch * recipe.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.max_lr, total_steps=total_steps, pct_start=recipe.warmup
    )
    shuffle = torch.Generator().manual_seed(seed)  # same permutation on every rank
    per_rank = recipe.batch_size // world
    history, training_seconds, step = [], 0.0, 0  # the clock stops while the test set is evaluated
    model.train()
    for epoch in range(1, recipe.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(dev)
        epoch_loss = 0.0
        for s in range(steps_per_epoch):
            batch = order[s * recipe.batch_size : (s + 1) * recipe.batch_size][rank * per_rank : (rank + 1) * per_rank]
            x, y = train_x[batch], train_y[batch]  # (B, 1, 28, 28), (B,)
            if recipe.shift_pixels:
                x = random_shift(x, recipe.shift_pixels, shuffle)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=recipe.bf16):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            epoch_loss += loss.item()
            if on_step:
                elapsed = training_seconds + time.perf_counter() - start
                on_step({"epoch": epoch, "step": step, "steps": total_steps, "loss": loss.item(),
                         "images_per_second": step * recipe.batch_size / max(elapsed, 1e-9)})
        training_seconds += time.perf_counter() - start
        record = {"epoch": epoch, "loss": epoch_loss / steps_per_epoch, "seconds": training_seconds,
                  "test_accuracy": accuracy(model, test_x, test_y)}
        history.append(record)
        if on_epoch:
            on_epoch(record)
    model.eval()
    metrics = {
        "train_accuracy": accuracy(model, train_x, train_y),
        "test_accuracy": history[-1]["test_accuracy"],
        "seconds": training_seconds,  # wall time of the optimisation steps, evaluation excluded
        "parameters": count_parameters(model),
        "conv_layers": len(recipe.model.channels),
        "epochs": recipe.epochs,
        "history": history,
        "device": str(dev),
        "processes": world,
        "threads": torch.get_num_threads(),
    }
    return model.cpu().to(memory_format=torch.contiguous_format), metrics


def recipe_dict(recipe: Recipe) -> dict:
    """The recipe as plain JSON types, for checkpoints and --json."""
    return asdict(recipe)


def train_and_save(
    digits: Digits, recipe: Recipe, checkpoint: str | Path, seed: int = 0, device: str = "auto",
    on_step: StepCallback | None = None, on_epoch: StepCallback | None = None,
) -> dict:
    """Train, then (on rank 0 only) write the checkpoint; return the metrics with the checkpoint path.
    A file at `checkpoint` that is not an nnscope checkpoint is refused before training, never replaced."""
    check_checkpoint_target("--checkpoint", checkpoint)
    model, metrics = train(digits, recipe, seed=seed, device=device, on_step=on_step, on_epoch=on_epoch)
    metrics = {**metrics, "dataset": digits.name, "recipe": recipe.name, "seed": seed, "checkpoint": str(checkpoint)}
    if distributed.rank() == 0:
        save_checkpoint(checkpoint, model, train_config=recipe_dict(recipe), metrics=metrics, seed=seed)
    distributed.barrier()
    return metrics


def run_train(model=None, data: Digits | None = None, options: TrainOptions = TrainOptions(),
              out: str | Path | None = None, progress: Progress | None = None,
              on_step_done: StepCallback | None = None) -> dict:
    """`nnscope train` (and the report's training section): train by `options` on `data`, write
    options.checkpoint, return the metrics.

    `model` and `out` are unused (one signature with the other analyses); `progress` gets every
    optimiser step, with the epoch, the loss and the speed as its text; `on_step_done` every step's record
    (step, steps, epoch, loss, ...), as train's on_step."""
    options.check()
    recipe = make_recipe(options.recipe, options.epochs, options.batch_size)
    progress = progress or no_progress

    def on_step(s: dict) -> None:
        progress(s["step"], s["steps"], f"epoch {s['epoch']}/{recipe.epochs} loss {s['loss']:.3f} "
                                        f"{s['images_per_second']:,.0f} img/s")
        if on_step_done is not None:
            on_step_done(s)

    return train_and_save(data, recipe, options.checkpoint, seed=options.seed, device=options.device,
                          on_step=on_step)
