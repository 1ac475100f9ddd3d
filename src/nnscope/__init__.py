"""nnscope: see inside small neural networks and check every number by hand."""

__version__ = "0.1.0"

from nnscope.data import Digits, load_digits, load_mnist  # noqa: E402
from nnscope.errors import NnscopeError  # noqa: E402
from nnscope.model import CNN, CNNConfig, load_model  # noqa: E402
from nnscope.vision.captum_occlusion import Occlusion  # noqa: E402
from nnscope.train import RECIPES, make_recipe, train, train_and_save  # noqa: E402

__all__ = [
    "CNN",
    "CNNConfig",
    "Digits",
    "NnscopeError",
    "Occlusion",
    "RECIPES",
    "__version__",
    "load_digits",
    "load_mnist",
    "load_model",
    "make_recipe",
    "train",
    "train_and_save",
]
