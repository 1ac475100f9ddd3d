"""Zip archives nnscope reads (checkpoints, weights, TorchScript, .pt2): their declared size is bounded and
every member's CRC checked before anything else reads them, so a damaged file is one line, never a model
that loads with a flipped bit, and a decompression bomb is refused unread."""

import zipfile
from pathlib import Path

from nnscope.errors import NnscopeError
from nnscope.limits import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_RATIO, size_text

CHUNK = 2**24  # bytes read at a time while checking a member


def check_archive(path: Path, option: str = "") -> None:
    """Refuse a zip archive whose declared contents exceed the limits, that names one member twice, or whose
    data does not match its CRCs; a file that is not a zip is left to its reader. `option` names the
    file's option in the message."""
    where = f"{option}: {path}" if option else str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    with archive:
        members = archive.infolist()
        declared, size = sum(m.file_size for m in members), Path(path).stat().st_size
        if declared > MAX_ARCHIVE_BYTES or declared > MAX_ARCHIVE_RATIO * size + 2**20:
            raise NnscopeError(f"{where}: its archive declares {size_text(declared)} of contents in a "
                               f"{size_text(size)} file; the limit is {size_text(MAX_ARCHIVE_BYTES)} "
                               f"and {MAX_ARCHIVE_RATIO} times the file's size")
        names = [m.filename for m in members]
        if len(set(names)) != len(names):
            raise NnscopeError(f"{where}: its archive names one member twice; a damaged or forged file")
        for member in members:
            try:
                with archive.open(member) as f:
                    while f.read(CHUNK):
                        pass
            except Exception as e:  # BadZipFile (CRC), zlib.error, EOFError, NotImplementedError: all damage
                raise NnscopeError(f"{where}: archive member {member.filename} is damaged "
                                   f"({str(e) or type(e).__name__}); the file changed after it was saved") from None
