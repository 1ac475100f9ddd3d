"""What every analysis of an image classifier shares: predictions, the example it looks at, hooked outputs.

A model is a `LoadedModel` (float (N, C, H, W) pixels in [0, 1] -> logits (N, K)); the data a
`LabelledImages`. Layers are hooked on `model.network`, named as `named_modules()` names them.
`predict` and the digit-based `pick_example` serve the analyses that still take nnscope's CNN and
`Digits` directly (occlusion, attack) until they take a LoadedModel too.
"""

import contextlib

import numpy as np
import torch

from nnscope.data import Digits, as_float_images
from nnscope.errors import NnscopeError
from nnscope.labelled_data import LabelledImages, pick_classes

BATCH = 256  # images per forward pass


@torch.no_grad()
def probabilities(model, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, K) of float images (N, C, H, W) in [0, 1]."""
    parts = [torch.softmax(model.module(torch.as_tensor(images[i:i + BATCH]).to(model.device)), 1).cpu().numpy()
             for i in range(0, len(images), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, model.classes), np.float32)


def class_index(data: LabelledImages, wanted, option: str) -> int:
    """The class index of `wanted`, a class name or an index of the data (one line when it is neither)."""
    return pick_classes(data.class_names, [wanted], option)[0]


def pick_image(model, data: LabelledImages, label: int, index: int | None, option: str = "--digit") -> int:
    """Index into `data` of image `index` (checked: of class `label`) or of the first correctly classified image
    of class `label` (none right: the first image of that class, whose prediction then says so)."""
    name = data.class_names[label]
    if index is not None:
        if not 0 <= index < len(data.labels):
            raise NnscopeError(f"--index: {index} is outside {data.source}; expected 0 to {len(data.labels) - 1}")
        if data.labels[index] != label:
            raise NnscopeError(f"--index: image {index} of {data.source} is a '{data.class_names[data.labels[index]]}', "
                               f"expected a '{name}'")
        return index
    candidates = np.flatnonzero(data.labels == label)
    if not len(candidates):
        raise NnscopeError(f"{option}: no image of class '{name}' in {data.source}")
    for start in range(0, len(candidates), BATCH):
        chunk = candidates[start:start + BATCH]
        hits = chunk[probabilities(model, data.float_images(chunk)).argmax(1) == label]
        if len(hits):
            return int(hits[0])
    return int(candidates[0])


def first_right_class(model, data: LabelledImages) -> int:
    """The class of the first image of `data` that the model classifies correctly: a default class that works."""
    for start in range(0, len(data.labels), BATCH):
        labels = data.labels[start:start + BATCH]
        right = np.flatnonzero(probabilities(model, data.float_images(np.arange(start, start + len(labels))))
                               .argmax(1) == labels)
        if len(right):
            return int(labels[right[0]])
    raise NnscopeError(f"--data: the model classifies no image of {data.source} correctly; expected data of the "
                       "classes it was trained on (or name the class to use with --digit)")


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
def layer_outputs(model, name: str, images: np.ndarray, option: str = "--layer") -> tuple[np.ndarray, torch.Tensor]:
    """(maps (N, C, H, W) float32 of module `name`'s output, logits (N, K)) for images (N, C, H, W) in [0, 1]."""
    module = model.layer(name, option)
    if model.format == "torchscript":
        raise NnscopeError(f"{option}: {model.source} runs outside Python, where forward hooks cannot be set; "
                           "give the model as FILE.py:NAME or a torch.export .pt2 to see its feature maps")
    maps, logits = [], []
    with hooked(module) as captured:
        for i in range(0, len(images), BATCH):
            logits.append(model.module(torch.as_tensor(images[i:i + BATCH]).to(model.device)).cpu())
            outputs = [o for o in captured if isinstance(o, torch.Tensor)]
            if not outputs:
                raise NnscopeError(f"{option}: {name!r} did not run or returned no tensor in {model.source}")
            if outputs[0].ndim != 4:
                raise NnscopeError(f"{option}: {name!r} outputs shape {tuple(outputs[0].shape)}; expected feature "
                                   "maps (N, C, H, W), e.g. a Conv2d, a pooling or an activation")
            maps.append(torch.cat(outputs).cpu()[:len(logits[-1])])  # a static-batch export runs padded chunks
            captured.clear()
    if not logits:
        return np.zeros((0, 0, 0, 0), np.float32), torch.zeros(0, model.classes)
    return torch.cat(maps).numpy(), torch.cat(logits)


def byte_pixels(image: np.ndarray) -> list:
    """A [0, 1] image as 0-255 integers: compact in a page, exact for MNIST's k/255 values."""
    return np.rint(np.asarray(image, dtype=np.float64) * 255).astype(int).tolist()


def check_digit(digit: int, option: str = "--digit") -> int:
    """`digit` if it is 0-9, else a clear error naming the option."""
    if not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise NnscopeError(f"{option}: {digit!r} is not a digit; expected a whole number from 0 to 9")
    return int(digit)


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    """Softmax probabilities (N, 10) of nnscope's CNN for float images (N, 1, 28, 28) in [0, 1]."""
    return torch.cat([torch.softmax(model(images[i : i + batch]), 1) for i in range(0, len(images), batch)])


def pick_example(model: torch.nn.Module, digits: Digits, digit: int, index: int | None = None) -> int:
    """Index into the test set of a correctly classified `digit`: `index` if given (checked), else the first one."""
    check_digit(digit)
    labels = digits.test_labels
    if index is not None:
        if not 0 <= index < len(labels):
            raise NnscopeError(f"--index: {index} is outside the test set; expected 0 to {len(labels) - 1}")
        if labels[index] != digit:
            raise NnscopeError(f"--index: test image {index} is a '{labels[index]}', expected a '{digit}'")
        predicted = int(predict(model, as_float_images(digits.test_images[index : index + 1])).argmax(1))
        if predicted != digit:
            raise NnscopeError(f"--index: test image {index} (a '{digit}') is classified as '{predicted}'; "
                               "pick a correctly classified one")
        return index
    candidates = np.flatnonzero(labels == digit)
    for start in range(0, len(candidates), 256):
        chunk = candidates[start : start + 256]
        predicted = predict(model, as_float_images(digits.test_images[chunk])).argmax(1).numpy()
        hits = chunk[predicted == digit]
        if len(hits):
            return int(hits[0])
    raise NnscopeError(f"--digit: the model classifies no test image of a '{digit}' correctly")
