"""A labelled data set given by `--data PATH`: an ImageFolder tree, IDX files or an .npz.

- ImageFolder: `DIR/<class>/<image files>`; class index = the folders in sorted order, as
  torchvision's ImageFolder numbers them. Hidden files and files of other types are skipped.
- IDX: a folder with the standard IDX files (the test pair if present, else the training pair),
  or one images file beside its labels file; any number of images of any size.
- .npz: arrays `images` ((N, H, W), (N, H, W, C) or (N, C, H, W); uint8, or floats in [0, 1]) and
  `labels` (N,), optionally `class_names`.
"""

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from nnscope.data import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IDX_NAMES, find_idx_file, read_idx
from nnscope.errors import NnscopeError
from nnscope.arrays import load_npz
from nnscope.fileio import note_input
from nnscope.limits import MAX_CLASSES
from nnscope.images import IMAGE_SUFFIXES, CHANNEL_COUNTS, pixels_from_array, read_pixels, to_channels


@dataclass(frozen=True)
class LabelledImages:
    """Images with one class label each; pixels stored compactly, read as floats by `float_images`."""

    images: np.ndarray  # (N, C, H, W): uint8 0-255 (scale 1/255) or float32 in [0, 1] (scale 1)
    scale: float  # images * scale = pixels in [0, 1]
    labels: np.ndarray  # (N,) int64 class indices into class_names
    class_names: tuple[str, ...]  # one per class, index = label
    source: str  # what was read
    name: str | None = None  # 'mnist' or 'fashion-mnist' for those test sets: the options take their defaults

    def float_images(self, indices=None) -> np.ndarray:
        """float32 (n, C, H, W) in [0, 1], the model's input contract; all images or those at `indices`."""
        chosen = self.images if indices is None else self.images[indices]
        # divided, not multiplied by the scale: 0-255 pixels / 255 are exactly as_float_images's (the MNIST path's)
        return chosen.astype(np.float32) / np.float32(1 / self.scale)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.images.shape[1:])


def load_labelled_data(path: str | Path, channels: int | None = None, size: tuple[int, int] | None = None) -> LabelledImages:
    """The data set at `path` (ImageFolder tree, IDX files or .npz), converted to `channels` when given;
    `size` (H, W) when the model takes only that size."""
    path = Path(path)
    if not path.exists():
        raise NnscopeError(f"--data: {path}: no such file or folder; expected an image folder tree, IDX files or an .npz")
    if not path.is_file() and not path.is_dir():
        raise NnscopeError(f"--data: {path} is a device or a pipe; expected an image folder tree, IDX files or an .npz")
    note_input(path)
    if path.is_file() and path.suffix.lower() == ".npz":
        data = read_npz(path)
    elif path.is_file() or idx_pair(path) is not None:
        data = read_idx_data(path)
    else:
        data = read_image_folder(path)
    data = checked(with_channels(data, channels) if channels is not None else data)
    if size is not None and data.input_shape[1:] != tuple(size):
        h, w = data.input_shape[1:]
        raise NnscopeError(f"--data: {data.source}: images of {h} x {w} pixels; "
                           f"the model takes {size[0]} x {size[1]} (H x W)")
    return data


def stacked(pixels: list[np.ndarray], names: list[str], source: str) -> tuple[np.ndarray, float]:
    """(H, W, C) arrays of one size -> (N, C, H, W), uint8 when all are, else float32; grey made RGB if any is RGB."""
    channels = max(p.shape[2] for p in pixels)
    sizes = {}
    for p, name in zip(pixels, names):
        sizes.setdefault(p.shape[:2], name)
        if len(sizes) > 1:
            (first, first_name), (other, other_name) = list(sizes.items())[:2]
            raise NnscopeError(f"--data: {source}: images of different sizes: {first_name} is {first[0]} x {first[1]}, "
                               f"{other_name} is {other[0]} x {other[1]}; expected one size")
    if all(p.dtype == np.uint8 for p in pixels):
        array, scale = np.stack([to_channels(p, channels) for p in pixels]), 1 / 255
    else:
        array = np.stack([to_channels(p, channels).astype(np.float32) / (255 if p.dtype == np.uint8 else 1)
                          for p in pixels]).astype(np.float32)
        scale = 1.0
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2)), scale


def read_image_folder(folder: Path) -> LabelledImages:
    """DIR/<class>/<files>: class index = sorted folder order."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    pixels, labels, names = [], [], []
    for index, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()):
            if file.is_file() and not file.name.startswith(".") and file.suffix.lower() in IMAGE_SUFFIXES:
                pixels.append(read_pixels(file))
                labels.append(index)
                names.append(str(file.relative_to(folder)))
    if not pixels:
        raise NnscopeError(f"--data: {folder}: no images found; expected {folder}/<class>/<image files> "
                           f"({', '.join(IMAGE_SUFFIXES)}), IDX files or an .npz")
    images, scale = stacked(pixels, names, str(folder))
    # every class folder keeps its index, an empty one too: the numbering a model trained on the tree uses
    return LabelledImages(images, scale, np.asarray(labels, dtype=np.int64), tuple(classes), str(folder))


def idx_pair(path: Path) -> tuple[Path, Path] | None:
    """(images, labels) IDX files: of a folder (the test pair first), or an images file and its labels beside it."""
    if path.is_file():
        labels = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
        return (path, labels) if labels != path and labels.is_file() else None
    for split in ("test", "train"):
        try:
            return tuple(find_idx_file(path, stem) for stem in IDX_NAMES[split])
        except NnscopeError:
            continue
    return None


def read_idx_data(path: Path) -> LabelledImages:
    """IDX images (N, H, W) uint8 and labels (N,), any N and size; classes named by their numbers."""
    pair = idx_pair(path)
    if pair is None:
        raise NnscopeError(f"--data: {path}: not an .npz, and no IDX labels file beside it "
                           "(expected NAME-images-idx3-ubyte with NAME-labels-idx1-ubyte)")
    images, labels = read_idx(pair[0], IDX_IMAGES_MAGIC, side=None), read_idx(pair[1], IDX_LABELS_MAGIC).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise NnscopeError(f"--data: {pair[0]}: {len(images)} images of shape {tuple(images.shape[1:])} and "
                           f"{len(labels)} labels; expected (N, H, W) images and N labels")
    names = tuple(str(k) for k in range(int(labels.max()) + 1)) if labels.size else ()
    return LabelledImages(np.ascontiguousarray(images[:, None]), 1 / 255, labels, names, str(pair[0].parent))


def read_npz(path: Path) -> LabelledImages:
    """An .npz with `images`, `labels` and optionally `class_names`, read without pickles."""
    arrays = load_npz(path, f"--data: {path}")
    for key in ("images", "labels"):
        if key not in arrays:
            raise NnscopeError(f"--data: {path}: no array {key!r}; found {', '.join(sorted(arrays)) or 'none'}")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim not in (3, 4) or labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise NnscopeError(f"--data: {path}: images {tuple(images.shape)} and labels {tuple(labels.shape)} "
                           f"{labels.dtype}; expected N images (N, H, W[, C]) and N whole-number labels")
    if labels.size and labels.min() < 0:
        raise NnscopeError(f"--data: {path}: label {int(labels.min())}; expected labels >= 0")
    if labels.size and labels.max() >= MAX_CLASSES:  # before a name is made for every class up to it
        raise NnscopeError(f"--data: {path}: label {int(labels.max())}; expected labels below {MAX_CLASSES} "
                           "(the limit on classes)")
    pixels = [pixels_from_array(image, f"{path} image {i}") for i, image in enumerate(images)]
    stacked_images, scale = stacked(pixels, [f"image {i}" for i in range(len(pixels))], str(path)) if pixels \
        else (images, 1.0)
    count = int(labels.max()) + 1 if labels.size else 0
    names = tuple(str(n) for n in arrays["class_names"]) if "class_names" in arrays else tuple(map(str, range(count)))
    if len(names) < count:
        raise NnscopeError(f"--data: {path}: label {count - 1} but only {len(names)} class_names")
    return LabelledImages(stacked_images, scale, labels.astype(np.int64), names, str(path))


def with_channels(data: LabelledImages, channels: int) -> LabelledImages:
    """The data set with `channels` channels (grey copied to RGB, RGB to grey by luma)."""
    if data.images.shape[1] == channels or data.images.ndim != 4:
        return data
    if channels not in CHANNEL_COUNTS:
        raise NnscopeError(f"--data: the model takes {channels} channels; data sets can be given for 1 or 3")
    converted = np.stack([to_channels(image.transpose(1, 2, 0), channels) for image in data.images])
    return LabelledImages(np.ascontiguousarray(converted.transpose(0, 3, 1, 2)), data.scale, data.labels,
                          data.class_names, data.source, data.name)


def checked(data: LabelledImages) -> LabelledImages:
    """A data set with images and at least two classes among its labels."""
    if len(data.labels) == 0:
        raise NnscopeError(f"--data: {data.source}: no images; expected at least one image of each of two classes")
    present = np.unique(data.labels)
    if len(present) < 2:
        raise NnscopeError(f"--data: {data.source}: a single class ({data.class_names[present[0]]!r}); "
                           "expected images of at least two classes")
    return data


def pick_classes(class_names: Sequence[str], wanted: Sequence[str | int], option: str = "--classes") -> list[int]:
    """Class indices of `wanted`, each a class name or an index; an unknown one names the known classes."""
    picked = []
    for item in wanted:
        text = str(item)
        if text in class_names:
            picked.append(list(class_names).index(text))
        elif text.isdigit() and int(text) < len(class_names):
            picked.append(int(text))
        else:
            close = difflib.get_close_matches(text, list(class_names), n=3)
            hint = f"close matches: {', '.join(close)}; " if close else ""
            known = ", ".join(class_names[:20]) + (f" and {len(class_names) - 20} more" if len(class_names) > 20 else "")
            raise NnscopeError(f"{option}: {text!r} is not a class of the data; {hint}known classes "
                               f"(or indices 0-{len(class_names) - 1}): {known}")
    return picked


TEST_SET_SHAPE = (1, 28, 28)  # the images of every test set load_digits reads (MNIST, Fashion-MNIST)


def labelled_test_set(digits) -> LabelledImages:
    """The test set of nnscope.data.Digits (MNIST, Fashion-MNIST) as a labelled data set (N, 1, 28, 28) of ten
    classes, named by `digits.name` so that options can take that data set's defaults."""
    return LabelledImages(images=digits.test_images[:, None], scale=1 / 255, labels=digits.test_labels.astype(np.int64),
                          class_names=tuple(str(d) for d in range(10)), source=f"the {digits.name} test set",
                          name=digits.name)
