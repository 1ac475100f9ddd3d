"""What `nnscope report` runs: the recipe of its CNN, the seed of everything, quick or full sizes."""

from dataclasses import dataclass

from nnscope.options.checks import one_of, whole_number
from nnscope.options.train import MAX_SEED, RECIPE_NAMES


@dataclass(frozen=True)
class ReportOptions:
    """What the report runs; every field is saved in results.json."""

    recipe: str = "default"  # training recipe of the CNN (nnscope.train.RECIPES)
    seed: int = 0  # seed of training and of every analysis that draws at random
    quick: bool = False  # smaller aggregates and a short long-sequence study: for tests, seconds not minutes

    def check(self) -> None:
        """Raise NnscopeError naming the first option out of range."""
        one_of("--recipe", self.recipe, RECIPE_NAMES)
        whole_number("--seed", self.seed, 0, MAX_SEED)
