"""What the Problem 1 analyses share on the user's own model: predictions, one picked image, hooked outputs.

A `LoadedModel` takes float (N, C, H, W) pixels in [0, 1] and returns logits (N, K); `--data` is a
`LabelledImages`. Layers are hooked on `loaded.network`, named as `named_modules()` names them.
"""

import contextlib

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.labelled_data import LabelledImages

BATCH = 256  # images per forward pass


@torch.no_grad()
def probabilities(loaded, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, K) of float images (N, C, H, W) in [0, 1]."""
    parts = [torch.softmax(loaded.module(torch.as_tensor(images[i:i + BATCH]).to(loaded.device)), 1).cpu().numpy()
             for i in range(0, len(images), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, loaded.classes), np.float32)


def check_data_fits(loaded, data: LabelledImages) -> None:
    """One line when the data set's images or classes do not fit the model."""
    c, h, w = data.input_shape
    if loaded.image_size is not None and (h, w) != loaded.image_size:
        raise NnscopeError(f"--data: {data.source}: images of {h} x {w} pixels; {loaded.source} takes "
                           f"{loaded.image_size[0]} x {loaded.image_size[1]} only")
    if len(data.class_names) > loaded.classes:
        raise NnscopeError(f"--data: {data.source}: {len(data.class_names)} classes; {loaded.source} returns "
                           f"{loaded.classes} logits")


def pick_from_data(loaded, data: LabelledImages, label: int, index: int | None, option: str) -> int:
    """Index into `data` of image `index` (checked: of class `label`) or of the first correctly classified `label`."""
    name = data.class_names[label]
    if index is not None:
        if not 0 <= index < len(data.labels):
            raise NnscopeError(f"--index: {index} is outside {data.source}; expected 0 to {len(data.labels) - 1}")
        if data.labels[index] != label:
            raise NnscopeError(f"--index: image {index} of {data.source} is a {data.class_names[data.labels[index]]!r}, "
                               f"expected a {name!r}")
        return index
    candidates = np.flatnonzero(data.labels == label)
    if not len(candidates):
        raise NnscopeError(f"{option}: no image of class {name!r} in {data.source}")
    predicted = probabilities(loaded, data.float_images(candidates)).argmax(1)
    hits = candidates[predicted == label]
    return int(hits[0] if len(hits) else candidates[0])  # none right: the first one, its prediction says so


@contextlib.contextmanager
def hooked(module: torch.nn.Module, edit=None):
    """Collects the outputs of `module` (a list, in call order); `edit(output) -> output` replaces them."""
    captured = []

    def hook(_module, _inputs, output):
        if edit is not None:
            output = edit(output)
        captured.append(output.detach() if isinstance(output, torch.Tensor) else output)
        return output if edit is not None else None

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


@torch.no_grad()
def layer_outputs(loaded, name: str, images: np.ndarray, option: str = "--layer") -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, C, H, W) float32 of module `name`'s output, logits (N, K)) for images (N, C, H, W) in [0, 1]."""
    module = loaded.layer(name, option)
    if loaded.format == "torchscript":
        raise NnscopeError(f"{option}: {loaded.source} runs outside Python, where forward hooks cannot be set; "
                           "give the model as FILE.py:NAME or a torch.export .pt2 to see its feature maps")
    maps, logits = [], []
    with hooked(module) as captured:
        for i in range(0, len(images), BATCH):
            logits.append(loaded.module(torch.as_tensor(images[i:i + BATCH]).to(loaded.device)).cpu())
            outputs = [o for o in captured if isinstance(o, torch.Tensor)]
            if not outputs:
                raise NnscopeError(f"{option}: {name!r} did not run or returned no tensor in {loaded.source}")
            if outputs[0].ndim != 4:
                raise NnscopeError(f"{option}: {name!r} outputs shape {tuple(outputs[0].shape)}; expected feature "
                                   "maps (N, C, H, W), e.g. a Conv2d, a pooling or an activation")
            maps.append(torch.cat(outputs).cpu()[:len(logits[-1])])  # a static-batch export runs padded chunks
            captured.clear()
    return torch.cat(maps).numpy(), torch.cat(logits)


def load_model_image_and_data(options, data_path=None):
    """(LoadedModel, --image as (C, H, W) or None, --data as LabelledImages or None, class names set from the
    data set's folders when --class-names is not given); the data's image size sizes the model when nothing
    else does."""
    from dataclasses import replace

    from nnscope.labelled_data import load_labelled_data, with_channels
    from nnscope.models import load_model_and_image

    raw = None if data_path is None else load_labelled_data(data_path)
    if raw is not None and options.input_shape is None and options.image is None:
        try:
            loaded, image = load_model_and_image(replace(options, input_shape=raw.input_shape))
        except NnscopeError:  # maybe the model takes the other of grey / RGB: the data is converted below
            loaded, image = load_model_and_image(replace(options, input_shape=(4 - raw.input_shape[0], *raw.input_shape[1:])))
    else:
        loaded, image = load_model_and_image(options)
    data = None
    if raw is not None:
        data = with_channels(raw, loaded.channels)
        check_data_fits(loaded, data)
        if options.class_names is None and loaded.format != "nnscope":  # the data's class index is the logit's
            loaded.class_names = (*data.class_names, *map(str, range(len(data.class_names), loaded.classes)))
    return loaded, image, data
