"""The user's own image classifier: read any of four formats, check nnscope's contract, name its layers.

`load_model(spec, ...)` returns a `LoadedModel`; `load_model_from_options(ModelOptions)` does the
same for the command line's options. Loading `FILE.py:NAME` runs that file's code (the user's own,
named by the user); checkpoints, weights, TorchScript and exported programs run no Python code.
"""

from nnscope.models.layers import resolve_layer
from nnscope.models.loaded import LoadedModel, PixelModel, load_model, read_class_names
from nnscope.models.options import load_model_and_image, load_model_from_options, load_model_image_and_data

__all__ = ["LoadedModel", "PixelModel", "load_model", "load_model_and_image", "load_model_from_options",
           "load_model_image_and_data", "read_class_names", "resolve_layer"]
