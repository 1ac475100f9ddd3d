"""The bridge from the command line's `ModelOptions` to a loaded model and, with --image, its image."""

import numpy as np
import torch

from nnscope.images import load_image, read_pixels
from nnscope.models.loaded import LoadedModel, load_user_model
from nnscope.options.model import ModelOptions


def load_model_from_options(options: ModelOptions, device: str | torch.device = "cpu") -> LoadedModel:
    """The model the options name, checked; with --image and no --input-shape, probed at the image's size."""
    return load_model_and_image(options, device)[0]


def load_model_and_image(options: ModelOptions, device: str | torch.device = "cpu") -> tuple[LoadedModel, np.ndarray | None]:
    """The model and, when --image is given, that image as float32 (C, H, W) in [0, 1] in the model's channels."""
    options.check()
    image_shape = None
    if options.image is not None:
        pixels = read_pixels(options.image)  # (H, W, C): read first, so that an unreadable image is named
        image_shape = (pixels.shape[2], pixels.shape[0], pixels.shape[1])
    loaded = load_user_model(options.spec, options.weights, options.mean, options.std, options.input_shape,
                             options.class_names, image_shape=image_shape, image_name=options.image or "--image",
                             device=device)
    if options.image is None:
        return loaded, None
    return loaded, load_image(options.image, loaded.channels, loaded.image_size)
