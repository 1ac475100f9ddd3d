"""The guards that keep reading a model file free of side effects, and its first forward pass bounded.

- a torch.export `.pt2` holds only the members `torch.export.save` writes for plain tensors
  (`check_pt2_members`): no legacy pickled weights, no pickled or custom objects, no compiled libraries,
  so `torch.export.load` never reaches a pickle; it also runs with torch.load forced to weights_only;
- a TorchScript file is a program: before it runs, the inlined graph of every method of the model and of
  every submodule is checked against the operators nnscope allows (`check_script_operators`): aten and
  prim operators that compute on tensors and Python values, never ones that reach files, processes,
  storages or the console; a file whose classes define `__setstate__` (which torch.jit.load would run)
  is refused before it is loaded;
- the first forward pass over a model runs under a time limit (`within_time_limit`).
"""

import contextlib
import logging
import os
import re
import threading
import zipfile
from pathlib import Path
from typing import Callable, TypeVar

from nnscope.errors import NnscopeError

T = TypeVar("T")

PROBE_TIME_LIMIT_S = 120.0  # seconds one probing forward pass of a model may take (a batch of 2 images)

def archive_records(path: Path) -> list[str]:
    """The member names as torch's own archive reader sees them (without their top folder)."""
    import torch

    try:
        return list(torch._C.PyTorchFileReader(str(path)).get_all_records())
    except RuntimeError:
        return []


# ---- torch.export .pt2 ----------------------------------------------------------------------------

# what torch.export.save writes for a program of plain tensors, without the archive's top folder
PT2_MEMBERS = re.compile(
    r"archive_format|archive_version|byteorder|version|\.data/version|\.data/serialization_id"
    r"|models/\w+\.json|data/sample_inputs/\w+\.pt"
    r"|data/weights/\w+_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/\w+_constants_config\.json|data/constants/tensor_\d+"
    r"|extra/[\w.-]+"
)


def check_pt2_members(path: Path, zip_members: list[str]) -> None:
    """Refuse a .pt2 holding any member that torch.export.load would unpickle or run: legacy weights
    (`data/weights/model.pt`), custom and opaque objects, AOTInductor libraries, anything it did not write."""
    records = archive_records(path)
    tops = {name.split("/", 1)[0] for name in zip_members}
    if not records or len(tops) != 1 or len(records) != len(zip_members):
        raise NnscopeError(f"--model: {path}: not a torch.export.save archive (its members are not in one folder)")
    for name in records:
        if not PT2_MEMBERS.fullmatch(name):
            raise NnscopeError(f"--model: {path}: holds {name!r}, which torch.export.load would unpickle or run; "
                               "nnscope reads .pt2 programs of plain tensors only, as torch.export.save writes them")


@contextlib.contextmanager
def weights_only_loads():
    """Within: every torch.load runs with weights_only=True, whatever its caller asks for, and torch's own
    logged warnings and tracebacks stay off stderr (nnscope says what went wrong in one line)."""
    saved = {k: os.environ.pop(k, None) for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(disabled)
        os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})


# ---- TorchScript ----------------------------------------------------------------------------------

SCRIPT_NAMESPACES = ("aten", "prim")  # tensor and Python-value operators; other namespaces are refused
# operators of those namespaces that reach outside the computation: files, processes, storages, the console
SCRIPT_DENIED = {
    "aten::from_file": "reads or maps a file", "aten::save": "writes a file", "aten::load": "reads a file",
    "aten::set_": "rebinds a tensor's storage", "aten::set_data": "rebinds a tensor's storage",
    "aten::_cufft_set_plan_cache_max_size": "changes process state",
    "prim::Print": "prints to the console", "aten::_print": "prints to the console",
    "prim::fork": "starts a task", "prim::forkClosure": "starts a task", "aten::wait": "waits for a task",
    "prim::rpc_async": "calls another process", "prim::rpc_sync": "calls another process",
    "prim::rpc_remote": "calls another process", "prim::PythonOp": "runs Python code",
    "prim::CallFunction": "calls a function that cannot be checked",
    "prim::CallMethod": "calls a method that cannot be checked",
}


def check_script_source(path: Path, zip_members: list[str]) -> None:
    """Refuse a TorchScript archive whose code defines `__setstate__`: torch.jit.load would run it."""
    with zipfile.ZipFile(path) as archive:
        for name in zip_members:
            if "/code/" in name and name.endswith(".py") and b"__setstate__" in archive.read(name):
                raise NnscopeError(f"--model: {path}: its code defines __setstate__ ({name}), which torch.jit.load "
                                   "would run; nnscope loads TorchScript whose code only computes")


def graph_nodes(block):
    """Every node of a graph or block, nested blocks (if / loop bodies) included."""
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from graph_nodes(inner)


def refused_operator(kind: str) -> str | None:
    """Why the operator `kind` ('aten::add') is refused, or None when it is allowed."""
    if kind in SCRIPT_DENIED:
        return SCRIPT_DENIED[kind]
    if kind.split("::", 1)[0] not in SCRIPT_NAMESPACES:
        return "is outside the aten and prim operators nnscope allows"
    return None


def check_script_operators(module, path: Path) -> None:
    """Refuse a loaded TorchScript module when any method of it or of a submodule (hooks included), inlined,
    uses an operator outside the allowlist; the line names the operator and where it is."""
    import torch

    for name, sub in reversed(list(module.named_modules())):  # innermost first: the line names where the op is
        functions = [(method, sub._c._get_method(method)) for method in sub._c._method_names()]
        functions += [(f"hook {hook.name}", hook) for hook in (*sub._c._get_forward_pre_hooks(),
                                                                 *sub._c._get_forward_hooks())]
        for method, function in functions:
            graph = function.graph.copy()
            torch._C._jit_pass_inline(graph)
            for node in graph_nodes(graph):
                why = refused_operator(node.kind())
                if why is not None:
                    where = f"{name or 'the model'}.{method}" if name else f"the model's {method}"
                    raise NnscopeError(f"--model: {path}: {where} uses {node.kind()}, which {why}; nnscope runs "
                                       "TorchScript that only computes on tensors")


# ---- the first forward pass -------------------------------------------------------------------------


def within_time_limit(run: Callable[[], T], what: str, seconds: float | None = None) -> T:
    """`run()`'s result, or one line when it has not returned within `seconds` (PROBE_TIME_LIMIT_S): a forward
    that never returns (a loop in the model) must not hang the command. The pass is left running in a daemon
    thread, which ends with the process."""
    limit = PROBE_TIME_LIMIT_S if seconds is None else seconds
    box: dict = {}

    def target():
        try:
            box["value"] = run()
        except BaseException as e:  # handed to the caller's thread below
            box["error"] = e

    thread = threading.Thread(target=target, name="nnscope-probe", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise NnscopeError(f"--model: {what} did not return within {limit:g} s; expected a forward pass that ends")
    if "error" in box:
        raise box["error"]
    return box["value"]
