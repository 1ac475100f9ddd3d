"""A model defined in the user's own Python file: `path/to/file.py:NAME`.

Importing the file RUNS ITS CODE, as `python file.py` would (without its `__main__` block): it is
the user's own code, named by the user on the command line. nnscope writes nothing beside it (no
`__pycache__`). NAME is a callable returning an `nn.Module` (a class, a function) or a module instance.
"""

import difflib
import importlib.util
import sys
import traceback
from pathlib import Path

from torch import nn

from nnscope.errors import NnscopeError
from nnscope.images import one_line


def split_python_spec(spec: str) -> tuple[Path, str] | None:
    """(file, NAME) of a `file.py:NAME` spec; None when `spec` does not name a .py file."""
    head, colon, name = str(spec).rpartition(":")
    if colon and head.lower().endswith(".py"):
        return Path(head), name
    if str(spec).lower().endswith(".py"):
        raise NnscopeError(f"--model: {spec}: name the model in the file too, as {spec}:NAME "
                           "(a class or function returning an nn.Module, or a module instance)")
    return None


def where_it_failed(error: BaseException, path: Path) -> str:
    """'file.py line 12: ' for the deepest frame of the user's file in the traceback, else ''."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return f"{path.name} line {frames[-1].lineno}: " if frames else ""


def run_file(path: Path):
    """Execute the user's file as a fresh module, its folder importable (for its own helpers); return the module."""
    module_name = f"nnscope_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    saved_path, saved_bytecode = list(sys.path), sys.dont_write_bytecode
    sys.path.insert(0, folder)
    sys.dont_write_bytecode = True  # never write __pycache__ into the user's folder
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)  # its prints: the command line keeps them out of --json (cli.contained)
    except BaseException:
        sys.modules.pop(module_name, None)  # no half-run module left behind
        raise
    finally:
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_bytecode
    return module


def import_file(path: Path):
    """The module object of the user's file (see `run_file`), its failures as one line naming the line."""
    if not path.is_file():
        raise NnscopeError(f"--model: {path}: no such file; expected FILE.py:NAME with FILE.py a Python file")
    try:
        return run_file(path)
    except SyntaxError as e:
        raise NnscopeError(f"--model: {path} line {e.lineno}: SyntaxError: {e.msg}") from None
    except (Exception, SystemExit) as e:  # the user's code: whatever it raises (or exits with) is one line
        raise NnscopeError(f"--model: importing {path} failed: {where_it_failed(e, path)}"
                           f"{type(e).__name__}: {one_line(e)}") from None


def module_from_python_file(path: Path, name: str) -> nn.Module:
    """The `nn.Module` that `NAME` of the user's file is or returns when called with no arguments."""
    module = import_file(path)
    if not name.isidentifier() or not hasattr(module, name):
        defined = sorted(n for n, v in vars(module).items()
                         if not n.startswith("_") and (callable(v) or isinstance(v, nn.Module))
                         and getattr(v, "__module__", module.__name__) == module.__name__)
        close = difflib.get_close_matches(name, defined, n=3)
        listed = ", ".join(defined) or "nothing callable"
        hint = f"close matches: {', '.join(close)}" if close else f"defined there: {listed}"
        raise NnscopeError(f"--model: {path} has no {name!r}; {hint}")
    value = getattr(module, name)
    if isinstance(value, nn.Module):
        return value
    if not callable(value):
        raise NnscopeError(f"--model: {path}:{name} is a {type(value).__name__}; "
                           "expected a callable returning an nn.Module, or an nn.Module instance")
    try:
        built = value()
    except (Exception, SystemExit) as e:  # the user's code
        raise NnscopeError(f"--model: calling {name}() of {path} failed: {where_it_failed(e, path)}"
                           f"{type(e).__name__}: {one_line(e)}") from None
    if not isinstance(built, nn.Module):
        raise NnscopeError(f"--model: {path}:{name}() returned a {type(built).__name__}; expected an nn.Module")
    return built
