"""What `nnscope train` can be asked: the recipe, its overrides, the seed, the device, the checkpoint."""

from dataclasses import dataclass
from pathlib import Path

from nnscope.options.checks import one_of, whole_number
from nnscope.paths import DEFAULT_CHECKPOINT

# the names of the recipes in nnscope.train.RECIPES (a test keeps the two equal): the table itself needs
# torch, and the command line lists the names without importing it
RECIPE_NAMES = ("fast", "default", "best")
DEVICES = ("auto", "cpu", "cuda")
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds
TRAIN_IMAGES = 60_000  # a batch holds at most the whole MNIST training set


@dataclass(frozen=True)
class TrainOptions:
    """How to train the CNN; the recipe holds everything else that changes the weights."""

    recipe: str = "default"  # a name of nnscope.train.RECIPES
    epochs: int | None = None  # passes over the training set; None: the recipe's
    batch_size: int | None = None  # images per optimiser step over all processes; None: the recipe's
    seed: int = 0  # same seed, same weights on CPU
    device: str = "auto"  # auto takes the GPU when there is one
    checkpoint: Path = DEFAULT_CHECKPOINT  # written atomically; a file that is not an nnscope checkpoint is refused

    def check(self) -> None:
        """Raise NnscopeError naming the first option out of range."""
        one_of("--recipe", self.recipe, RECIPE_NAMES)
        if self.epochs is not None:
            whole_number("--epochs", self.epochs, 1)
        if self.batch_size is not None:
            whole_number("--batch-size", self.batch_size, 1, TRAIN_IMAGES)
        whole_number("--seed", self.seed, 0, MAX_SEED)
        one_of("--device", self.device, DEVICES)
