"""Zip archives nnscope reads (checkpoints, weights, TorchScript, .pt2): their declared size is bounded and
every member's CRC checked before anything else reads them, so a damaged file is one line, never a model
that loads with a flipped bit, and a decompression bomb is refused unread."""

import zipfile
from pathlib import Path

from nnscope.errors import NnscopeError
from nnscope.limits import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_RATIO, size_text

CHUNK = 2**24  # bytes read at a time while checking a member
ZIP_START = b"PK\x03\x04"  # a zip archive's first local header: what torch.save writes
LEGACY_TORCH_START = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's format before zip archives


def check_archive(path: Path, option: str = "") -> None:
    """Refuse a zip archive whose declared contents exceed the limits, that names one member twice, or whose
    data does not match its CRCs; a file that is not a zip is left to its reader. `option` names the
    file's option in the message."""
    where = f"{option}: {path}" if option else str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):  # its reader says what it is (torch_load_defect)
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


def file_start(path: Path, size: int) -> bytes:
    """The first `size` bytes of `path` (fewer when it is shorter; none when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def torch_load_defect(path: Path, error: BaseException) -> str | None:
    """What is wrong with a file that `torch.load(weights_only=True)` failed on with `error`, in words, when
    it can be told: empty, a damaged archive, a legacy torch file cut short, a pickle protocol torch's
    safe reader cannot read, objects that need code to build; None for a file that is simply not torch's."""
    start = file_start(path, len(LEGACY_TORCH_START))
    text = " ".join(str(error).split())
    if not start:
        return "an empty file"
    if start.startswith(ZIP_START) and not zipfile.is_zipfile(path):
        return ("a damaged archive, truncated: it starts as a zip archive but its end (the central directory) "
                "is missing")
    if type(error).__name__ == "UnpicklingError":
        if needs_code(error):
            return ("a pickled Python object that only runs with torch.load(weights_only=False), which nnscope "
                    "never does")
        protocol = pickle_protocol(path)
        if "unsupported operand" in text.lower() and protocol is not None:
            return (f"pickled with protocol {protocol}, which torch.load(weights_only=True) cannot "
                    "read; save it again with torch.save's default pickle_protocol=2")
    if start.startswith(ZIP_START):
        return f"a damaged archive ({first_sentence(text) or type(error).__name__})"
    if start == LEGACY_TORCH_START:
        return f"a damaged torch.save file of the format before zip archives: truncated or changed ({first_sentence(text) or type(error).__name__})"
    return None


def needs_code(error: BaseException) -> bool:
    """Whether torch.load(weights_only=True) failed because the file holds objects whose classes it would import."""
    return type(error).__name__ == "UnpicklingError" and "unsupported global" in str(error).lower()


def pickle_protocol(path: Path) -> int | None:
    """The pickle protocol of the data.pkl of a torch zip archive, or None for any other file."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            head = archive.read(name)[:2]
    except (zipfile.BadZipFile, OSError, StopIteration, ValueError):
        return None
    return head[1] if len(head) == 2 and head[0] == 0x80 else None


def first_sentence(text: str, limit: int = 100) -> str:
    """The first sentence of an error message, at most about `limit` characters."""
    sentence = text.split(". ")[0]
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + " ..."
