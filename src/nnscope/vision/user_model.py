"""Where the transplant attack (vision/user_attack.py, cli/attack.py) still finds these names until it moves to
the one path: they live in nnscope.vision.examples and nnscope.models."""

from nnscope.models.options import check_data_fits, load_model_image_and_data
from nnscope.vision.examples import probabilities

__all__ = ["check_data_fits", "load_model_image_and_data", "probabilities"]
