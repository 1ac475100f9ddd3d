"""Atomic file writes, the one rule every write follows, and the provenance stamped on every saved result.

The rule (`check_replaceable`): nnscope never replaces a file it did not write itself, and never writes
onto a file that the same run reads (its model, data, image, checkpoint, cache). What nnscope wrote is
recorded in a ledger in its cache folder (`$NNSCOPE_HOME/written.json`: path -> size, mtime, inode), so a
file the user made, or changed since, is never replaced; every reader calls `note_input`.
"""

import contextlib
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.paths import nnscope_home

LEDGER = "written.json"  # in nnscope_home(): the files nnscope wrote and may replace
_inputs: set[str] = set()  # real paths of the files this process has read as inputs


def _key(path: str | os.PathLike) -> str:
    return os.path.realpath(path)


def _stamp(path: str | os.PathLike) -> list[int]:
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def note_input(path: str | os.PathLike) -> None:
    """Record `path` (a file or a data folder) as an input of this run: no write of this process may land on
    it or inside it."""
    _inputs.add(_key(path))


@contextlib.contextmanager
def _locked_ledger():
    """The ledger (path -> stamp) under an exclusive lock; what the block leaves in it is saved."""
    home = nnscope_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / (LEDGER + ".lock"), "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # no fcntl (Windows): writes of two nnscope processes at once may lose an entry
            pass
        try:
            ledger = json.loads((home / LEDGER).read_text())
            ledger = ledger if isinstance(ledger, dict) else {}
        except (OSError, ValueError):
            ledger = {}
        before = dict(ledger)
        yield ledger
        if ledger != before:
            fd, tmp = tempfile.mkstemp(dir=home, prefix=f".{LEDGER}.", suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(ledger, f)
            os.replace(tmp, home / LEDGER)


def written_by_nnscope(path: str | os.PathLike) -> bool:
    """Whether the file at `path` is one nnscope wrote and nobody changed since."""
    try:
        with _locked_ledger() as ledger:
            return ledger.get(_key(path)) == _stamp(path)
    except OSError:
        return False


def _record_written(*paths: Path) -> None:
    """Add `paths` to the ledger; entries of files since removed or changed are dropped."""
    with contextlib.suppress(OSError), _locked_ledger() as ledger:
        for key, stamp in list(ledger.items()):
            try:
                if _stamp(key) != stamp:
                    del ledger[key]
            except OSError:
                del ledger[key]
        for path in paths:
            ledger[_key(path)] = _stamp(path)


def check_replaceable(path: str | os.PathLike, option: str = "", ours: Callable[[Path], bool] | None = None,
                      rewrites_input: bool = False) -> None:
    """Refuse to write `path` when it is an input of this run, or an existing file that nnscope did not write
    (`ours(path)` may recognise one by its contents, as a checkpoint by its format tag). `rewrites_input`: the
    writer's own state, read and rewritten by design (the checkpoint train and report keep)."""
    path = Path(path)
    where = f"{option}: {path}" if option else str(path)
    key = _key(path)
    if not rewrites_input and any(key == read or key.startswith(read.rstrip(os.sep) + os.sep) for read in _inputs):
        raise NnscopeError(f"{where} is an input of this run (or inside one); nnscope never writes onto what it "
                           "reads: give another path")
    if path.is_file() and not written_by_nnscope(path) and not (ours is not None and ours(path)):
        raise NnscopeError(f"{where} exists and was not written by nnscope (or was changed since); refusing to "
                           "replace it: move it away or give another path")


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike, option: str, ours: Callable[[Path], bool]):
    """A folder to build `out` in, published whole or not at all: it starts as a copy of `out` (if any), and
    replaces `out` only when the block ends without an error; otherwise it is removed and `out` stays as it
    was. An `out` that holds files must be nnscope's (`ours(out)`), since the whole folder is replaced."""
    import shutil

    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not ours(out):
        raise NnscopeError(f"{option}: {out} holds files and is not a folder nnscope wrote; refusing to replace it: "
                           "give an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    os.chmod(staging, 0o755)
    try:
        if out.is_dir():
            shutil.copytree(out, staging, dirs_exist_ok=True)
            _record_written(*(p for p in staging.rglob("*") if p.is_file()))  # copies nnscope made: its own
        yield staging
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
        _record_written(*(p for p in out.rglob("*") if p.is_file()))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb",
                 ours: Callable[[Path], bool] | None = None, rewrites_input: bool = False) -> Path:
    """Call `write(fileobj)` on a temporary file beside `path`, then rename it over `path`, following the one
    rule (`check_replaceable`; `ours` as there) and recording the file as nnscope's.

    A crash or an exception part-way leaves any earlier file at `path` untouched."""
    path = Path(path)
    check_replaceable(path, ours=ours, rewrites_input=rewrites_input)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:  # name the user's path, never the temporary file
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    _record_written(path)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to `path` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """Turn numpy / torch values, tuples and paths into plain JSON types (lists, floats, ints).

    The one policy for non-finite numbers in results: JSON has no NaN or infinity, so a value that
    is undefined (0/0, a ratio of nothing) or infinite is written as null, in --json output and in
    every saved file alike; the sentences built from a result say 'undefined' for it."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if callable(getattr(value, "as_dict", None)):  # a typed result (nnscope.results.Result): its JSON keys
        return to_jsonable(value.as_dict())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return to_jsonable(value.astype(object).tolist())
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps_json(value: Any, indent: int | None = None) -> str:
    """JSON text of `value`; non-finite numbers become null (see `to_jsonable`)."""
    return json.dumps(to_jsonable(value), indent=indent, allow_nan=False)


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """Write `value` as indented JSON to `path` atomically."""
    return atomic_write_text(path, dumps_json(value, indent=2) + "\n")


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the numbers."""
    import torch

    from nnscope import __version__

    return {
        "nnscope": __version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a TorchVersion object would not load with weights_only=True
        "numpy": np.__version__,
    }
