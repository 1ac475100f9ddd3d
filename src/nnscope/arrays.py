""".npy and .npz files read without pickles, their declared sizes checked before anything is allocated: a
header that asks for more than the file holds (a lie) or more than MAX_ARRAY_BYTES (a bomb) is one line."""

import zipfile
from pathlib import Path

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.limits import MAX_ARRAY_BYTES, size_text


def read_header(f, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of the .npy stream `f`, left positioned at its data."""
    try:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise NnscopeError(f"{where}: cannot read the .npy array ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return tuple(shape), dtype


def check_declared(shape: tuple[int, ...], dtype: np.dtype, available: int, where: str) -> None:
    """Refuse an array of objects (pickles), or one whose declared size exceeds the limit or what the file holds."""
    if dtype.hasobject:
        raise NnscopeError(f"{where}: an array of Python objects, which only a pickle can hold; expected numbers")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: a header may ask for 2^100
    if declared > MAX_ARRAY_BYTES:
        raise NnscopeError(f"{where}: its header declares {' x '.join(map(str, shape))} {dtype} = "
                           f"{size_text(declared)}; the limit is {size_text(MAX_ARRAY_BYTES)} for one array")
    if declared > available:
        raise NnscopeError(f"{where}: its header declares {size_text(declared)} of data, the file holds "
                           f"{size_text(available)}; a truncated or forged file")


def load_npy(path: Path, where: str | None = None) -> np.ndarray:
    """The array of a .npy file, its header checked first."""
    where = where or str(path)
    with open(path, "rb") as f:
        shape, dtype = read_header(f, where)
        check_declared(shape, dtype, Path(path).stat().st_size - f.tell(), where)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise NnscopeError(f"{where}: cannot read the .npy array ({str(e) or type(e).__name__})") from None


def load_npz(path: Path, where: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz (name -> array), each member's header checked against its size in the archive,
    and their total against the limit, before one is decompressed."""
    where = where or str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise NnscopeError(f"{where}: cannot read the .npz (not a zip archive: {e})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        total = sum(m.file_size for m in members)
        if total > MAX_ARRAY_BYTES:
            raise NnscopeError(f"{where}: its arrays expand to {size_text(total)}; the limit is "
                               f"{size_text(MAX_ARRAY_BYTES)}")
        arrays = {}
        for member in members:
            name = member.filename.removesuffix(".npy")
            try:
                with archive.open(member) as f:
                    shape, dtype = read_header(f, f"{where} array {name!r}")
                    check_declared(shape, dtype, member.file_size - f.tell(), f"{where} array {name!r}")
                with archive.open(member) as f:  # read_array reads the header again
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
            except NnscopeError:
                raise
            except Exception as e:  # a damaged member: zlib.error, a bad CRC, a short read
                raise NnscopeError(f"{where}: cannot read array {name!r} ({type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else 'damaged'})") from None
    return arrays
