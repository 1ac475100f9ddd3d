"""The four ways to name a model (`--model SPEC`) and what each file says about itself.

- an nnscope checkpoint (its 'nnscope-cnn' format tag), read by `nnscope.model.load_model`;
- a TorchScript file (`torch.jit.save`), read by `torch.jit.load`;
- a `torch.export` program (`torch.export.save`, `.pt2`), read by `torch.export.load` and unflattened
  so that its submodules keep their names and can be hooked;
- `path/to/file.py:NAME` (see `nnscope.models.pyfile`: importing the file runs its code), with
  optional `--weights`.
Checkpoints and weights are read with `torch.load(weights_only=True)`. A TorchScript file is a program:
it is loaded only when its code defines no `__setstate__`, and run only when every operator of its
graph is one that computes (`nnscope.models.guards`). A .pt2 is opened only when it holds nothing but
the plain tensors and JSON that torch.export.save writes, so torch.export.load never reaches a pickle.
Every archive has its CRCs checked first. docs/security.md says what each format may do.
"""

import io
import json
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from nnscope.errors import NnscopeError
from nnscope.fileio import note_input
from nnscope.images import one_line
from nnscope.archives import check_archive, needs_code, torch_load_defect
from nnscope.models.guards import (check_pt2_members, check_script_operators,
                                   check_script_source, weights_only_loads)
from nnscope.model import CHECKPOINT_FORMAT, CNN
from nnscope.model import load_model as load_checkpoint
from nnscope.models.pyfile import module_from_python_file, split_python_spec
from nnscope.models.weights import load_weights
from nnscope.paths import DEFAULT_CHECKPOINT

FORMATS = ("nnscope", "torchscript", "export", "python")
NNSCOPE_INPUT_SHAPE = (1, 28, 28)  # the CNN nnscope trains: grey MNIST digits
DIGIT_NAMES = tuple(str(d) for d in range(10))


@dataclass
class Network:
    """The user's network as read from SPEC, before it is probed."""

    module: nn.Module  # eval mode; its named_modules() name the layers
    format: str  # one of FORMATS
    source: str  # what was read, for people: "TorchScript file model.pt"
    input_shape: tuple[int, int, int] | None = None  # (C, H, W) when the file says so
    static_batch: int | None = None  # the only batch size an exported program runs, when fixed at export
    class_names: tuple[str, ...] | None = None  # when the format knows them
    layer_types: dict[str, str] = field(default_factory=dict)  # module name -> type, where type(m) would not say


def zip_names(path: Path) -> list[str]:
    """The members of a zip archive, or [] for any other file (old torch.save files are not zips)."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def read_network(spec: str | Path | nn.Module, weights: str | Path | None = None) -> Network:
    """The network that `spec` names (or is: a module already in memory), in eval mode on the CPU, with
    `weights` loaded into a .py model."""
    if isinstance(spec, nn.Module):
        if isinstance(spec, CNN):
            return Network(spec.eval(), "nnscope", "nnscope's CNN", input_shape=NNSCOPE_INPUT_SHAPE,
                           class_names=DIGIT_NAMES)
        return Network(spec.eval(), "python", f"the module {type(spec).__name__}")
    python = split_python_spec(str(spec))
    if python is not None:
        path, name = python
        note_input(path)
        module = module_from_python_file(path, name)
        if weights is not None:
            load_weights(module, weights, f"{path}:{name}")
        source = f"{path}:{name}" + (f" with weights {weights}" if weights is not None else "")
        return Network(module.eval(), "python", source)
    path = Path(spec)
    if weights is not None:
        raise NnscopeError(f"--weights: only used with --model FILE.py:NAME; {path} carries its own weights")
    if not path.exists() and path == DEFAULT_CHECKPOINT:
        raise NnscopeError(f"--model: {path}: no such file; train nnscope's CNN with 'nnscope train', "
                           "or give your own model as --model SPEC")
    if not path.exists():
        raise NnscopeError(f"--model: {path}: no such file; expected an nnscope checkpoint, a TorchScript file, "
                           "a torch.export .pt2 program or FILE.py:NAME")
    if path.is_dir():
        raise NnscopeError(f"--model: {path} is a folder; expected a model file or FILE.py:NAME")
    if not path.is_file():
        raise NnscopeError(f"--model: {path} is not a regular file (a device, a pipe or a socket); "
                           "expected a model file or FILE.py:NAME")
    check_archive(path, "--model")
    note_input(path)
    names = zip_names(path)
    if any(n.endswith("/archive_format") for n in names):
        return read_exported(path, names)
    if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
        return read_torchscript(path)
    return read_saved(path)


def read_torchscript(path: Path) -> Network:
    """A TorchScript file whose code only computes; its submodules' types are their original class names."""
    check_script_source(path, zip_names(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch's notice that TorchScript is deprecated
            module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as e:
        raise NnscopeError(f"--model: {path}: TorchScript file torch.jit.load cannot read ({one_line(e)})") from None
    check_script_operators(module, path)
    types = {name: m.original_name for name, m in module.named_modules()}
    return Network(module.eval(), "torchscript", f"TorchScript file {path}", layer_types=types)


def check_pt2_payloads(path: Path, names: list[str]) -> None:
    """Refuse a .pt2 whose weights or constants are pickled objects or whose sample inputs need more than
    weights_only=True: torch.export.load would unpickle them with code allowed."""
    with zipfile.ZipFile(path) as archive:
        for name in names:
            if name.endswith(("_weights_config.json", "_constants_config.json")):
                try:
                    entries = json.loads(archive.read(name)).get("config", {})
                except (ValueError, AttributeError):
                    raise NnscopeError(f"--model: {path}: unreadable {name}; "
                                       "expected a torch.export.save archive") from None
                for key, entry in entries.items():
                    plain_tensor = str(entry.get("path_name", "")).startswith(("weight_", "tensor_"))
                    if entry.get("use_pickle") or not plain_tensor:
                        raise NnscopeError(f"--model: {path}: {key!r} is stored as a pickled object, which "
                                           "torch.export.load would unpickle with code allowed; nnscope reads only plain tensors; "
                                           "save the model as TorchScript, or as FILE.py:NAME with --weights")
            elif "/data/sample_inputs/" in name and not name.endswith("/"):
                try:
                    torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
                except Exception:  # anything weights_only=True refuses
                    raise NnscopeError(f"--model: {path}: its sample inputs need torch.load(weights_only=False), "
                                       "which nnscope never does; export the program with tensor inputs only") from None


def read_exported(path: Path, names: list[str]) -> Network:
    """A torch.export program, unflattened back into named submodules, with the input shape it was exported for."""
    check_pt2_members(path, names)
    check_pt2_payloads(path, names)
    try:
        with warnings.catch_warnings(), weights_only_loads():
            warnings.simplefilter("ignore")  # torch's deprecation notices about its own serialiser
            program = torch.export.load(str(path))
            module = torch.export.unflatten(program)
    except Exception as e:  # torch.export raises many types for a damaged or foreign archive
        raise NnscopeError(f"--model: {path}: torch.export program torch.export.load cannot read ({one_line(e)})") from None
    inputs = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    if len(inputs) != 1:
        raise NnscopeError(f"--model: {path}: the exported program takes {len(inputs)} inputs; expected one image batch")
    shape = tuple(inputs[0].meta["val"].shape) if "val" in inputs[0].meta else ()
    static = [d if isinstance(d, int) else None for d in shape]  # a dynamic dimension is a SymInt
    input_shape = tuple(static[1:]) if len(static) == 4 and None not in static[1:] else None
    batch = static[0] if len(static) == 4 else None
    modules = dict(module.named_modules())
    for name, settings in exported_conv_settings(program).items():
        for key, value in settings.items():  # the unflattened module runs the graph: these only describe it
            if name in modules:
                setattr(modules[name], key, value)
    return Network(module.eval(), "export", f"torch.export program {path}", input_shape=input_shape,
                   static_batch=batch, layer_types=exported_layer_types(program))


def _module_path(recorded: str) -> str:
    """An `nn_module_stack` path as named_modules() spells it ("L['self'].layer1.0" -> "layer1.0")."""
    return recorded.removeprefix("L['self'].").removeprefix("L['self']")


def exported_layer_types(program) -> dict[str, str]:
    """Module path -> class name, from the `nn_module_stack` torch.export records on every node."""
    types = {"": "ExportedProgram"}
    for node in program.graph.nodes:
        for module_path, type_name in node.meta.get("nn_module_stack", {}).values():
            types.setdefault(_module_path(module_path), str(type_name).rsplit(".", 1)[-1])
    return types


# aten's conv signatures after (input, weight, bias): argument name -> (position, default)
CONV_ARGUMENTS = {
    "conv2d": {"stride": (3, [1]), "padding": (4, [0]), "dilation": (5, [1]), "groups": (6, 1)},
    "convolution": {"stride": (3, [1]), "padding": (4, [0]), "dilation": (5, [1]), "groups": (8, 1)},
}


def exported_conv_settings(program) -> dict[str, dict]:
    """Conv2d module path -> its stride, padding, dilation (pairs) and groups, read from the aten conv call
    that the module's forward became (an unflattened module keeps its weights, not these settings)."""
    settings = {}
    for node in program.graph.nodes:
        op = getattr(node.target, "_overloadpacket", None)
        arguments = CONV_ARGUMENTS.get(getattr(op, "__name__", ""))
        stack = list(node.meta.get("nn_module_stack", {}).values())
        if node.op != "call_function" or arguments is None or not stack:
            continue
        module_path, type_name = stack[-1]  # the innermost module: a Conv2d's own forward
        if str(type_name).rsplit(".", 1)[-1] != "Conv2d" or _module_path(module_path) in settings:
            continue
        found = {}
        for key, (position, default) in arguments.items():
            value = node.args[position] if len(node.args) > position else node.kwargs.get(key, default)
            if key == "groups" or isinstance(value, str):  # groups, or padding 'same' / 'valid'
                found[key] = value if isinstance(value, str) else int(value)
            else:
                found[key] = tuple(int(v) for v in value) * (2 if len(value) == 1 else 1)
        settings[_module_path(module_path)] = found
    return settings


def read_saved(path: Path) -> Network:
    """A torch.save file: an nnscope checkpoint is read as one; anything else says what to give instead."""
    check_archive(path, "--model")  # a damaged or truncated archive is named as such, before torch reads it
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol and storage warnings are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, IndexError,
            KeyError, UnicodeDecodeError) as e:
        defect = torch_load_defect(path, e) or "not a model nnscope can read"
        hint = ("save the model with torch.jit.save or torch.export.save, or give its code as FILE.py:NAME and its "
                "state_dict with --weights") if needs_code(e) else (
                "expected an nnscope checkpoint, a TorchScript file, a torch.export .pt2 program or FILE.py:NAME")
        raise NnscopeError(f"--model: {path}: {defect}; {hint}") from None
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        return Network(load_checkpoint(path), "nnscope", f"nnscope checkpoint {path}",
                       input_shape=NNSCOPE_INPUT_SHAPE, class_names=DIGIT_NAMES)
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NnscopeError(f"--model: {path} holds weights only (a state dict); give the model's code as "
                           f"--model FILE.py:NAME --weights {path}")
    raise NnscopeError(f"--model: {path}: a torch.save file holding a {type(state).__name__}, not a model; "
                       "expected an nnscope checkpoint, a TorchScript file, a torch.export .pt2 program or FILE.py:NAME")
