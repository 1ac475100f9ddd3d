"""The bridge from the command line's `ModelOptions` to a loaded model, its image and its labelled data."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from nnscope.data import load_digits
from nnscope.errors import ModelDoesNotRun, NnscopeError
from nnscope.images import load_image, read_pixels
from nnscope.labelled_data import TEST_SET_SHAPE, LabelledImages, load_labelled_data, labelled_test_set, with_channels
from nnscope.models.loaded import LoadedModel, load_model
from nnscope.options.model import ModelOptions


def load_model_from_options(options: ModelOptions, device: str | torch.device = "cpu",
                            input_needed: bool = True) -> LoadedModel:
    """The model the options name, checked; with --image and no --input-shape, probed at the image's size;
    with `input_needed` False and no size known, not run (see `load_model`)."""
    return load_model_and_image(options, device, input_needed)[0]


def load_model_and_image(options: ModelOptions, device: str | torch.device = "cpu",
                         input_needed: bool = True) -> tuple[LoadedModel, np.ndarray | None]:
    """The model and, when --image is given, that image as float32 (C, H, W) in [0, 1] in the model's channels."""
    options.check()
    image_shape = None
    if options.image is not None:
        pixels = read_pixels(options.image)  # (H, W, C): read first, so that an unreadable image is named
        image_shape = (pixels.shape[2], pixels.shape[0], pixels.shape[1])
    loaded = load_model(options.spec, options.weights, options.mean, options.std, options.input_shape,
                        options.class_names, image_shape=image_shape, image_name=options.image or "--image",
                        device=device, input_needed=input_needed)
    if options.image is None:
        return loaded, None
    return loaded, load_image(options.image, loaded.channels, loaded.image_size)


def load_model_image_and_data(options: ModelOptions, data_path: str | Path | None = None, dataset: str | None = None,
                              data_dir: str | Path | None = None, log=None, default_dataset: str | None = None
                              ) -> tuple[LoadedModel, np.ndarray | None, LabelledImages | None]:
    """(model, --image as (C, H, W) or None, labelled data or None). The data is `data_path` (an ImageFolder,
    IDX files, an .npz), else the test set of `dataset` (MNIST, Fashion-MNIST; read from `data_dir` when given),
    else the test set of the data set the model was trained on, else that of `default_dataset` (a command that
    cannot do without images: 'mnist'), else none. The data's image size sizes the model when nothing else does;
    the data's class names name the model's classes unless the model knows its own."""
    if data_path is not None and (dataset is not None or data_dir is not None):
        raise NnscopeError("--data: give one data set: --data DIR, or --dataset / --data-dir")
    raw = None if data_path is None else load_labelled_data(data_path)
    test_set_read = raw is None and (dataset or default_dataset or data_dir is not None)
    shape = raw.input_shape if raw is not None else TEST_SET_SHAPE if test_set_read else None
    if shape is not None and options.input_shape is None and options.image is None:
        try:
            loaded, image = load_model_and_image(replace(options, input_shape=shape))
        except NnscopeError as first:  # maybe the model takes the other of grey / RGB: the data is converted below
            try:
                loaded, image = load_model_and_image(replace(options, input_shape=(4 - shape[0], *shape[1:])))
            except NnscopeError as second:  # say what went wrong where the model ran, on the data's shape first
                raise (second if isinstance(first, ModelDoesNotRun) else first) from None
    else:
        loaded, image = load_model_and_image(options)
    name = dataset or loaded.trained_on or default_dataset or ("mnist" if data_dir is not None else None)
    if raw is None and name is not None:
        raw = labelled_test_set(load_digits(name, data_dir, log=log))
        if log and loaded.trained_on and loaded.trained_on != raw.name:
            log(f"note: the model was trained on {loaded.trained_on}; it now reads {raw.name} images, whose classes "
                f"it was never taught, so its labels name {loaded.trained_on} classes")
    if raw is None:
        return loaded, image, None
    data = with_channels(raw, loaded.channels)
    check_data_fits(loaded, data)
    if options.class_names is None and loaded.trained_on is None and data.name is None:
        loaded.class_names = (*data.class_names, *map(str, range(len(data.class_names), loaded.classes)))
    return loaded, image, data


def check_data_fits(model, data: LabelledImages) -> None:
    """One line when the data set's images or classes do not fit the model."""
    c, h, w = data.input_shape
    if model.image_size is not None and (h, w) != model.image_size:
        raise NnscopeError(f"--data: {data.source}: images of {h} x {w} pixels; {model.source} takes "
                           f"{model.image_size[0]} x {model.image_size[1]} only")
    if len(data.class_names) > model.classes:
        raise NnscopeError(f"--data: {data.source}: {len(data.class_names)} classes; {model.source} returns "
                           f"{model.classes} logits")
