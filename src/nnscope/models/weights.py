"""Weights for the user's module: a state dict from `torch.save` or a `.safetensors` file.

Neither format runs code: `torch.load` is called with `weights_only=True` and safetensors holds
only tensors. Weights that do not fit the module name the first key that is missing, unexpected
or of another shape, instead of PyTorch's page-long message.
"""

import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from nnscope.archives import check_archive, file_start, torch_load_defect
from nnscope.errors import NnscopeError
from nnscope.fileio import note_input
from nnscope.images import one_line

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # added by DataParallel/DistributedDataParallel and torch.compile


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of `path`: safetensors by its suffix, else a torch.save dict (a bare state dict or one
    under the key 'state_dict', as nnscope's and Lightning's checkpoints hold it)."""
    path = Path(path)
    if not path.exists():
        raise NnscopeError(f"--weights: {path}: no such file; expected a state dict (torch.save) or a .safetensors file")
    if not path.is_file():
        raise NnscopeError(f"--weights: {path} is a folder, a device or a pipe; "
                           "expected a state dict (torch.save) or a .safetensors file")
    note_input(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise NnscopeError(f"--weights: {path}: not a readable .safetensors file ({one_line(e)})") from None
    check_archive(path, "--weights")
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol and storage warnings: the line below says it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError, IndexError,
            KeyError, UnicodeDecodeError) as e:
        defect = torch_load_defect(path, e) or f"not a torch.save file (it starts with {file_start(path, 8)!r})"
        raise NnscopeError(f"--weights: {path}: {defect}; expected a state dict (torch.save) or a .safetensors file"
                           ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise NnscopeError(f"--weights: {path}: holds a {type(state).__name__}, expected a state dict of name -> tensor")
    return state


def without_wrapper_prefix(state: dict[str, torch.Tensor], expected: dict) -> dict[str, torch.Tensor]:
    """`state` with 'module.' (or torch.compile's '_orig_mod.') dropped from every key when every key has it
    and the module's own keys do not."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state) and not any(k.startswith(prefix) for k in expected):
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def weights_mismatch(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> list[str]:
    """What keeps `state` from loading into a module whose state dict is `expected`: the first missing,
    unexpected and mis-shaped key, each with how many more there are."""
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    for what, keys in (("missing key", missing), ("unexpected key", unexpected)):
        if keys:
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            problems.append(f"{what} {keys[0]!r}{more}")
    if misshaped:
        k = misshaped[0]
        more = f" (and {len(misshaped) - 1} more)" if len(misshaped) > 1 else ""
        problems.append(
            f"{k!r} has shape {tuple(state[k].shape)} in the file, {tuple(expected[k].shape)} in the model{more}"
        )
    return problems


def load_weights(network: nn.Module, path: str | Path, model_name: str) -> None:
    """Load the weights of `path` into `network` (all of them, every key), or say which key does not fit."""
    expected = network.state_dict()
    state = without_wrapper_prefix(read_state_dict(path), expected)
    for key, value in state.items():  # copying into a real parameter would drop the imaginary part without a word
        if value.is_complex() and key in expected and not expected[key].is_complex():
            raise NnscopeError(f"--weights: {path}: {key!r} holds complex numbers; {model_name} expects real values")
    problems = weights_mismatch(state, expected)
    if problems:
        raise NnscopeError(f"--weights: {path} does not fit {model_name}: {'; '.join(problems)}")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as e:  # e.g. a dtype that cannot be copied
        raise NnscopeError(f"--weights: {path} does not fit {model_name} ({one_line(e)})") from None
