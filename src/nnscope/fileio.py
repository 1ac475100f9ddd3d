"""Atomic file writes and the provenance (seed, versions) stamped on every saved result."""

import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call `write(fileobj)` on a temporary file beside `path`, then rename it over `path`.

    A crash or an exception part-way leaves any earlier file at `path` untouched."""
    path = Path(path)
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
