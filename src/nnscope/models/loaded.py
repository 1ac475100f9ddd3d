"""Any PyTorch image classifier, checked against nnscope's contract and described by one forward pass.

The contract: the model takes float (N, C, H, W) with pixels in [0, 1] (normalisation inside the
model, or given per channel by `mean` / `std`) and returns logits (N, K). Loading runs the model
once on a seeded random batch: that pass checks the contract, counts the classes K and records
which `nn.Conv2d` modules run, in forward order.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from nnscope.errors import ModelDoesNotRun, NnscopeError
from nnscope.fileio import note_input
from nnscope.images import one_line
from nnscope.limits import MAX_TEXT_BYTES, size_text
from nnscope.models.formats import Network, read_network
from nnscope.models.guards import within_time_limit
from nnscope.models.layers import (describe_layers, hooked_forward, is_conv2d, layer_type, resolve_layer, shape_of,
                                   torchscript_call_order)

PROBE_BATCH = 2  # images in the probing pass: a (1, K) output would not show whether N is kept
PROBE_SEED = 0  # the probing images are torch.rand with this seed: the same pass on every run
SIZE_CHECK_GROWTH = (3, 5)  # (dH, dW) pixels added to probe whether the model takes other sizes


class PixelModel(nn.Module):
    """The user's network behind nnscope's contract: normalises [0, 1] pixels per channel when `mean` and `std`
    are given, and runs a program exported for one batch size `static_batch` images at a time."""

    def __init__(self, network: nn.Module, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 static_batch: int | None = None, source: str = "the model"):
        super().__init__()
        self.network = network
        self.source = source  # for people, in the line that refuses non-finite logits
        self.normalised = mean is not None
        if self.normalised:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.static_batch = static_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) in [0, 1] -> (N, K)
        if self.normalised:
            x = (x - self.mean) / self.std
        if self.static_batch is None or len(x) == self.static_batch:
            output = self.network(x)
        else:
            chunks = []
            for start in range(0, len(x), self.static_batch):
                chunk = x[start:start + self.static_batch]
                padded = torch.cat([chunk, chunk[-1:].expand(self.static_batch - len(chunk), *chunk.shape[1:])])
                chunks.append(self.network(padded)[:len(chunk)])  # the padding rows repeat the last image, dropped
            output = torch.cat(chunks)
        if isinstance(output, torch.Tensor) and output.is_floating_point():  # at every call, not only the first
            check_finite(output, f"{self.source} on a ({', '.join(map(str, x.shape))}) input")
        return output


@dataclass
class LoadedModel:
    """A model ready for every analysis: call `module` on pixels in [0, 1]; name layers in `network`."""

    module: nn.Module  # eval mode: (N, C, H, W) pixels in [0, 1] -> (N, K) logits, normalisation included
    network: nn.Module  # the user's own module: named_modules() gives the layer names, hooks go here
    format: str  # 'nnscope', 'torchscript', 'export' or 'python'
    source: str  # what was loaded, for people
    input_shape: tuple[int, int, int] | None  # (C, H, W) of the probing pass; None: never run (weights only)
    fixed_size: bool  # True when the model failed on another H x W: images must be input_shape's size
    classes: int  # K, measured: the width of the output
    class_names: tuple[str, ...]  # K names: --class-names, the data set's, or '0', '1', ...
    conv_layers: tuple[str, ...]  # the nn.Conv2d modules' names in forward order (first call)
    layers: list[dict]  # every module: name, type, output_shape (per image), parameters, call_order
    static_batch: int | None = None  # an exported program's fixed batch size: hooks see chunks of this many
    trained_on: str | None = None  # the data set it was trained on, when the file says so (nnscope's checkpoints)

    @property
    def channels(self) -> int:
        """C of the input."""
        return self.input_shape[0]

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(H, W) an image must have, or None when the model takes any size."""
        return tuple(self.input_shape[1:]) if self.fixed_size else None

    def layer(self, name: str, option: str = "--layers") -> nn.Module:
        """The submodule named `name`; an unknown name gives one line with the close matches."""
        return resolve_layer(self, name, option)

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (CPU when it has none)."""
        tensor = next(iter([*self.module.parameters(), *self.module.buffers()]), None)
        return tensor.device if tensor is not None else torch.device("cpu")


def read_class_names(path: str | Path) -> tuple[str, ...]:
    """One class name a line (blank lines at the end ignored)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise NnscopeError(f"--class-names: {path} is a folder, a device or a pipe; expected a text file, one name a line")
    if path.is_file() and path.stat().st_size > MAX_TEXT_BYTES:
        raise NnscopeError(f"--class-names: {path}: {size_text(path.stat().st_size)}; the limit is "
                           f"{size_text(MAX_TEXT_BYTES)} for a text file of class names")
    note_input(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise NnscopeError(f"--class-names: {path}: cannot read ({one_line(e)}); "
                           "expected a text file, one name a line") from None
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if not names or not all(names):
        raise NnscopeError(f"--class-names: {path}: expected one non-empty class name a line")
    return tuple(names)


def check_norm(option: str, values: Sequence[float] | None, channels: int) -> list[float] | None:
    """Per-channel `--mean` / `--std`: one value (for every channel) or one per channel."""
    if values is None:
        return None
    values = [float(v) for v in values]
    if len(values) == 1:
        return values * channels
    if len(values) != channels:
        raise NnscopeError(f"{option}: {len(values)} values; the model takes {channels} channels, expected 1 or {channels}")
    return values


def probe(model: PixelModel, shape: tuple[int, int, int], batch: int, source: str = "the model") -> torch.Tensor:
    """The model's output on a seeded random batch of `shape`, within the probing time limit; a model that
    exits the process (sys.exit) is reported, not obeyed."""
    generator = torch.Generator().manual_seed(PROBE_SEED)
    x = torch.rand(batch, *shape, generator=generator)
    device = next(iter([*model.parameters(), *model.buffers()]), x).device

    def run():
        with torch.no_grad():
            return model(x.to(device))

    try:
        return within_time_limit(run, f"{source} on a ({batch}, {', '.join(map(str, shape))}) input")
    except SystemExit as e:
        raise NnscopeError(f"--model: {source} called sys.exit({e.code!r}) in its forward pass; "
                           "expected it to return logits") from None


def check_logits(output, batch: int, shape: tuple[int, int, int], source: str) -> int:
    """K of an (N, K) float output; else one line saying what came back."""
    what = f"{source} on a ({batch}, {', '.join(map(str, shape))}) input"
    if not isinstance(output, torch.Tensor):
        raise NnscopeError(f"--model: {what} returned a {type(output).__name__}; expected a tensor of logits (N, K)")
    if output.ndim != 2 or output.shape[0] != batch or output.shape[1] < 1 or not output.is_floating_point():
        raise NnscopeError(f"--model: {what} returned {output.dtype} of shape {tuple(output.shape)}; "
                           f"expected logits (N, K) = ({batch}, K)")
    if output.shape[1] < 2:  # its softmax is 1 whatever the input: every map and finding would be empty
        raise NnscopeError(f"--model: {what} returned one logit per image; the softmax of one class is always 1, so "
                           "no analysis could see it change; expected logits of K >= 2 classes (a binary "
                           "classifier as two logits)")
    check_finite(output, what)
    return int(output.shape[1])


def check_finite(output: torch.Tensor, what: str) -> None:
    """Refuse logits holding NaN or infinity: every finding made from them would be about nothing.
    The line names the first image and logit that is not finite."""
    bad = (~torch.isfinite(output)).nonzero()
    if len(bad):
        n, k = (int(v) for v in bad[0])
        raise NnscopeError(f"--model: {what} returned {float(output[n, k])} at image {n}, logit {k} "
                           f"({len(bad)} of {output.numel()} logits not finite); expected finite logits")


def check_images_independent(model: PixelModel, shape: tuple[int, int, int], batch_output: torch.Tensor,
                             source: str) -> None:
    """Refuse a model whose logits for an image change with the other images of its batch (batch statistics,
    such as BatchNorm with track_running_stats=False) or from run to run (dropout left on): the analyses run
    images and occluded copies in batches, so their numbers would not be the model's for any one image. The
    first probing image is run alone (the seeded batch starts with it) and compared."""
    try:
        alone = probe(model, shape, 1, source)
    except NnscopeError:
        raise
    except Exception as e:  # the user's forward pass: one line
        raise NnscopeError(f"--model: {source} runs on a batch of {PROBE_BATCH} images but not on one image alone "
                           f"({type(e).__name__}: {one_line(e)}); expected each image's logits to depend on that "
                           "image only") from None
    if not isinstance(alone, torch.Tensor) or alone.shape != batch_output[:1].shape:
        return  # check_logits says what is wrong with an output of another shape
    difference = float((alone - batch_output[:1]).abs().max())
    if not torch.allclose(alone, batch_output[:1], rtol=1e-3, atol=1e-4):
        raise NnscopeError(f"--model: {source} gives an image other logits alone than in a batch of {PROBE_BATCH} "
                           f"(they differ by up to {difference:.3g}): its output depends on the other images of "
                           "the batch (batch statistics, as BatchNorm with track_running_stats=False) or is random "
                           "(dropout left on); expected each image's logits to depend on that image only")


def takes_other_sizes(model: PixelModel, shape: tuple[int, int, int]) -> bool:
    """Whether the model also runs on a slightly larger image and still returns (N, K)."""
    bigger = (shape[0], shape[1] + SIZE_CHECK_GROWTH[0], shape[2] + SIZE_CHECK_GROWTH[1])
    try:
        output = probe(model, bigger, PROBE_BATCH)
    except NnscopeError:  # the time limit, sys.exit or non-finite logits: said at once, not taken for a fixed size
        raise
    except Exception:  # a fixed-size model fails in its own way (a Linear of the wrong width, a guard)
        return False
    return isinstance(output, torch.Tensor) and output.ndim == 2 and output.shape[0] == PROBE_BATCH


def candidate_shapes(network: Network, input_shape, image_shape) -> list[tuple[int, int, int]]:
    """Input shapes to probe, in order: --input-shape, the file's own, the image's (its channels, then the other)."""
    if input_shape is not None:
        return [tuple(int(v) for v in input_shape)]
    if network.input_shape is not None:
        return [network.input_shape]
    if image_shape is not None:
        c, h, w = image_shape
        return [(c, h, w), (3 if c == 1 else 1, h, w)]
    raise NnscopeError(f"--input-shape: the input size of {network.source} is not known; give --input-shape C H W "
                       "or --image PATH")


def first_pass(network: Network, module: nn.Module, shapes: list, mean, std, device, image_name) -> tuple:
    """(model, shape, K, module name -> output shape in call order) of the first shape the model runs on."""
    errors = []
    for shape in shapes:
        model = PixelModel(module, check_norm("--mean", mean, shape[0]), check_norm("--std", std, shape[0]),
                           network.static_batch, network.source).to(device).eval()
        try:
            if network.format == "torchscript":
                output, calls = probe(model, shape, PROBE_BATCH, network.source), dict.fromkeys(torchscript_call_order(module))
                calls[""] = shape_of(output)  # the one output seen from Python
            else:
                output, calls = hooked_forward(module, lambda: probe(model, shape, PROBE_BATCH, network.source))
        except NnscopeError:
            raise
        except Exception as e:  # the user's forward pass: whatever it raises is reported in one line
            errors.append(f"on a ({PROBE_BATCH}, {', '.join(map(str, shape))}) input it raised "
                          f"{type(e).__name__}: {one_line(e)}")
            continue
        classes = check_logits(output, PROBE_BATCH, shape, network.source)
        check_images_independent(model, shape, output, network.source)
        return model, shape, classes, calls
    if len(shapes) > 1:  # only the image's size gives more than one shape to try: name the image
        h, w = shapes[0][1:]
        raise ModelDoesNotRun(f"{image_name}: image of {h} x {w} pixels; {network.source} does not run on it "
                              f"({errors[-1]}); give an image of the size the model takes")
    raise ModelDoesNotRun(f"--model: {network.source} does not run: {errors[0]}")


def load_model(spec: str | Path | nn.Module, weights: str | Path | None = None, mean: Sequence[float] | None = None,
                    std: Sequence[float] | None = None, input_shape: Sequence[int] | None = None,
                    class_names: Sequence[str] | str | Path | None = None, image_shape: Sequence[int] | None = None,
                    image_name: str | Path = "--image", device: str | torch.device = "cpu",
                    input_needed: bool = True) -> LoadedModel:
    """Load SPEC (an nnscope checkpoint, TorchScript, torch.export .pt2, FILE.py:NAME, or an nn.Module in memory;
    a .py file's code RUNS),
    check the contract with one forward pass and describe it. `image_shape` (C, H, W) of the image `image_name`
    sizes the pass when neither `input_shape` nor the file gives one; with `input_needed` False and no size
    known, the model is not run (its weights can be read, nothing about its outputs is known)."""
    if (mean is None) != (std is None):
        raise NnscopeError("--mean and --std: give both or neither")
    return loaded_from_network(read_network(spec, weights), mean, std, input_shape, class_names, image_shape,
                               image_name, device, input_needed)


def loaded_from_network(network: Network, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                        input_shape: Sequence[int] | None = None, class_names: Sequence[str] | str | Path | None = None,
                        image_shape: Sequence[int] | None = None, image_name: str | Path = "--image",
                        device: str | torch.device = "cpu", input_needed: bool = True) -> LoadedModel:
    """A network already read (or built in memory: `Network(module, 'nnscope', source)` of nnscope's CNN) checked
    with one forward pass and described, as load_model does for a file (`input_needed` as there)."""
    module = network.module.to(device).eval()
    if not input_needed and input_shape is None and network.input_shape is None and image_shape is None:
        return unprobed(network, module)
    shapes = candidate_shapes(network, input_shape, image_shape)
    model, shape, classes, calls = first_pass(network, module, shapes, mean, std, device, image_name)
    modules = dict(module.named_modules())
    convs = tuple(n for n in calls if is_conv2d(modules[n], layer_type(modules[n], n, network.layer_types)))
    return LoadedModel(
        module=model, network=module, format=network.format, source=network.source, input_shape=shape,
        fixed_size=not takes_other_sizes(model, shape), classes=classes,
        class_names=class_names_for(class_names, network, classes), conv_layers=convs,
        layers=describe_layers(module, calls, network.layer_types), static_batch=network.static_batch,
        trained_on=getattr(network.module, "trained_on", None),
    )


def unprobed(network: Network, module: nn.Module) -> LoadedModel:
    """A model never run, for what needs only its weights: its Conv2d modules in declaration order."""
    convs = tuple(n for n, m in module.named_modules() if is_conv2d(m, layer_type(m, n, network.layer_types)))
    return LoadedModel(module=PixelModel(module, static_batch=network.static_batch, source=network.source).eval(),
                       network=module,
                       format=network.format, source=network.source, input_shape=None, fixed_size=False, classes=0,
                       class_names=(), conv_layers=convs, layers=[], static_batch=network.static_batch,
                       trained_on=getattr(module, "trained_on", None))


def class_names_for(given, network: Network, classes: int) -> tuple[str, ...]:
    """K class names: the given list or file, the format's own, else '0', '1', ...; a count that differs is an error."""
    if given is None:
        names = network.class_names if network.class_names and len(network.class_names) == classes else None
        return names or tuple(str(k) for k in range(classes))
    names = read_class_names(given) if isinstance(given, (str, Path)) else tuple(map(str, given))
    if len(names) != classes:
        where = f"{given}: " if isinstance(given, (str, Path)) else ""
        raise NnscopeError(f"--class-names: {where}{len(names)} names; the model returns {classes} logits, "
                           f"expected {classes} names")
    return names
