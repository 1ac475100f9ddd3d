"""The size limits every reader checks before it allocates: what a file declares is compared with these
first, so a lying header or a decompression bomb is one line, never an out-of-memory kill.

docs/security.md lists them; each is generous for real data (ImageNet-sized images, MNIST-sized sets,
models of a few billion parameters) and far below what would exhaust a workstation.
"""

MAX_ARCHIVE_BYTES = 32 * 2**30  # declared contents of one model or weights archive (zip)
MAX_ARCHIVE_RATIO = 200  # declared contents per byte of the archive file: above this it is a bomb
MAX_IMAGE_PIXELS = 64 * 2**20  # H x W of one image (about 8000 x 8000)
MAX_ARRAY_BYTES = 4 * 2**30  # one .npy array, or all the arrays of one .npz (or IDX file) once expanded
MAX_CLASSES = 100_000  # classes of a data set (labels above this are refused before names are built)
MAX_TEXT_BYTES = 64 * 2**20  # a class-names file or another small text file
MAX_SEQUENCE_RESIDUES = 100_000  # one generated sequence of the long-sequence study (--lengths, --train-length)
MAX_STUDY_RESIDUES = 2**27  # all generated sequences of one set together (count x length), 1 GiB as int64
MAX_SEQUENCES = 100_000  # sequences of one set (--train-count, --test-count)
MAX_UNITS = 4096  # units of one recurrent network (--hidden, --esn-size)


def size_text(count: float) -> str:
    """Bytes for people: '37.0 GiB', '512.0 MiB'."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} bytes"
