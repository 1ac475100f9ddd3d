"""Output paths checked before the work starts, named as the user typed them.

A command that writes a file or a folder calls `check_output_file` / `check_output_dir` first, so a
path that cannot be written fails in a second with one line naming the option and the path, not
minutes later naming an internal temporary file. Nothing is created: the nearest folder that
exists is probed with a temporary file, removed at once.
"""

import os
import tempfile
from pathlib import Path

from typing import Callable

from nnscope.errors import NnscopeError


def nearest_existing(path: Path) -> Path:
    """`path` itself or the closest of its parents that exists (the current folder at worst)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_writable(option: str, path: Path, folder: Path) -> None:
    """Create and remove a temporary file in `folder`; refuse `path` if that fails."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".nnscope-probe-")
    except OSError as e:
        what = f"the folder {folder} is not writable" if folder in (path, path.parent) else \
            f"cannot create the folder {path.parent if path.parent != folder else path} in {folder}"
        raise NnscopeError(f"{option}: {what} ({e.strerror or e}), so {path} cannot be written; "
                           "expected a path in a writable folder") from None
    os.close(fd)
    os.unlink(probe)


def _check_parent(option: str, path: Path, created: Path) -> None:
    """The folders down to `created` exist or can be created, and the nearest existing one is writable."""
    folder = nearest_existing(created)
    if not folder.is_dir():
        raise NnscopeError(f"{option}: cannot create the folder {created} ({folder} is a file); "
                           "expected a path in a writable folder")
    _probe_writable(option, path, folder)


def check_output_file(option: str, path: str | os.PathLike, ours: Callable[[Path], bool] | None = None,
                      rewrites_input: bool = False) -> Path:
    """`path` can be written as a file by `option`: not a folder, in a writable (or creatable) folder, and
    neither an input of this run nor a file nnscope did not write (`nnscope.fileio.check_replaceable`)."""
    path = Path(path)
    if str(path) == "" or path.is_dir():
        raise NnscopeError(f"{option}: {path} is a folder; expected a file name")
    if path.exists() and not path.is_file():
        raise NnscopeError(f"{option}: {path} is not a regular file; expected a file name")
    from nnscope.fileio import check_replaceable  # numpy comes with it: not at start-up (--help)

    check_replaceable(path, option, ours, rewrites_input)
    _check_parent(option, path, path.parent)
    return path


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` is `folder` or lies under it."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def check_out_apart_from_data(out: str | os.PathLike, data: str | os.PathLike | None) -> None:
    """--out is not the --data folder nor inside it: a figure written there would become part of the data set
    (an image of a class, in an ImageFolder tree)."""
    if data is not None and inside(out, data):
        raise NnscopeError(f"--out: {out} is inside --data {data}; nnscope never writes into your data, "
                           "give another folder")


def check_output_dir(option: str, path: str | os.PathLike) -> Path:
    """`path` can hold `option`'s output files: a writable folder, or one that can be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NnscopeError(f"{option}: {path} is a file; expected a folder (created if missing)")
    _check_parent(option, path, path)
    return path
