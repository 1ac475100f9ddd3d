"""One image from a file, as a model takes it: float32 (C, H, W), pixels in [0, 1].

PNG, JPEG and BMP are read with Pillow; `.npy` arrays hold uint8 pixels (0-255) or floats in
[0, 1], laid out (H, W), (H, W, C) or (C, H, W). Grey and RGB are converted to the channels the
model takes; the size is checked, never changed, so that every pixel analysed is one of the file's.
"""

import re
import warnings
from pathlib import Path

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.fileio import note_input
from nnscope.limits import MAX_IMAGE_PIXELS

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")  # read with Pillow
IMAGE_SUFFIXES = (*PICTURE_SUFFIXES, ".npy")
CHANNEL_COUNTS = (1, 3)  # grey or RGB: what a model's first layer takes


def read_pixels(path: str | Path) -> np.ndarray:
    """The file's pixels as (H, W, C), C 1 or 3: uint8 from a picture or a uint8 .npy, else float32 in [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise NnscopeError(f"{path}: no such image file; expected a PNG, JPEG, BMP or .npy file")
    if not path.is_file():
        raise NnscopeError(f"{path} is a folder, a device or a pipe, not an image file; "
                           "expected a PNG, JPEG, BMP or .npy file")
    note_input(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return pixels_from_array(read_npy(path), path)
    if suffix not in PICTURE_SUFFIXES:
        raise NnscopeError(f"{path}: unknown image type {suffix or '(no suffix)'!r}; expected {', '.join(IMAGE_SUFFIXES)}")
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings(), Image.open(path) as picture:
            warnings.simplefilter("ignore")  # Pillow's notes on palettes and sizes: the checks below speak instead
            check_picture_size(picture.size, path)
            picture.load()
            if picture.mode.startswith("I"):  # 16-bit grey: 0-65535 scaled to [0, 1], no precision dropped
                return pixels_from_array(np.asarray(picture, dtype=np.float32) / 65535, path)
            if picture.mode == "F":  # 32-bit float grey: must already be in [0, 1]
                return pixels_from_array(np.asarray(picture, dtype=np.float32), path)
            # palette, alpha, 1-bit: everything else becomes 8-bit grey or RGB, the two layouts models take
            mode = "L" if picture.mode in ("1", "L", "LA") else "RGB"
            pixels = np.asarray(picture.convert(mode), dtype=np.uint8)
    except Image.DecompressionBombError as e:  # over twice Pillow's own limit, refused by Pillow at open
        declared = re.search(r"\((\d+) pixels\)", str(e))
        what = f"declares {declared.group(1)} pixels" if declared else "declares too many pixels"
        raise NnscopeError(f"{path}: image {what}; the limit is {MAX_IMAGE_PIXELS} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise NnscopeError(f"{path}: cannot read the image ({one_line(e)})") from None
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def check_picture_size(size: tuple[int, int], path: Path) -> None:
    """Refuse a picture whose declared width x height is empty or over MAX_IMAGE_PIXELS, before it is decoded."""
    width, height = size
    if width * height == 0:
        raise NnscopeError(f"{path}: image of {height} x {width} pixels; expected at least 1 x 1")
    if width * height > MAX_IMAGE_PIXELS:
        raise NnscopeError(f"{path}: image declares {height} x {width} = {width * height} pixels; "
                           f"the limit is {MAX_IMAGE_PIXELS} pixels")


def read_npy(path: Path) -> np.ndarray:
    """A .npy array, read without pickles, its declared size checked first."""
    from nnscope.arrays import load_npy

    return load_npy(path)


def pixels_from_array(array: np.ndarray, name: str | Path) -> np.ndarray:
    """An (H, W), (H, W, C) or (C, H, W) array of pixels as (H, W, C), checked: uint8, or floats in [0, 1]."""
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3 and array.shape[0] in CHANNEL_COUNTS and array.shape[2] not in CHANNEL_COUNTS:
        array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if array.ndim != 3 or array.shape[2] not in CHANNEL_COUNTS:
        raise NnscopeError(f"{name}: array of shape {tuple(array.shape)}; "
                           "expected (H, W), (H, W, C) or (C, H, W) with C 1 or 3")
    if array.shape[0] * array.shape[1] == 0:
        raise NnscopeError(f"{name}: image of {array.shape[0]} x {array.shape[1]} pixels; expected at least 1 x 1")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind not in "fiu":
        raise NnscopeError(f"{name}: array of {array.dtype}; expected uint8 pixels 0-255 or floats in [0, 1]")
    values = array.astype(np.float32)
    if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
        raise NnscopeError(
            f"{name}: values from {values.min():g} to {values.max():g}; expected uint8 pixels 0-255 or floats in [0, 1]"
        )
    return np.ascontiguousarray(values)


def to_channels(pixels: np.ndarray, channels: int, name: str | Path = "image") -> np.ndarray:
    """(H, W, C) pixels with `channels` channels: grey copied to RGB, RGB to grey by ITU-R 601 luma."""
    if channels not in CHANNEL_COUNTS:
        raise NnscopeError(f"{name}: the model takes {channels} channels; images can be given for 1 (grey) or 3 (RGB)")
    have = pixels.shape[2]
    if have == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=2)
    luma = pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W)
    return (np.clip(np.rint(luma), 0, 255).astype(np.uint8) if pixels.dtype == np.uint8 else luma)[:, :, None]


def as_model_input(pixels: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 or float pixels -> float32 (C, H, W) in [0, 1]."""
    values = pixels.astype(np.float32) / 255 if pixels.dtype == np.uint8 else pixels.astype(np.float32)
    return np.ascontiguousarray(values.transpose(2, 0, 1))


def load_image(path: str | Path, channels: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """The image at `path` as float32 (channels, H, W) in [0, 1]; `size` (H, W) when the model takes only that size."""
    pixels = to_channels(read_pixels(path), channels, path)
    found = tuple(pixels.shape[:2])
    if size is not None and found != tuple(size):
        raise NnscopeError(
            f"{path}: image of {found[0]} x {found[1]} pixels; the model takes {size[0]} x {size[1]} (H x W)"
        )
    return as_model_input(pixels)


def one_line(error: BaseException) -> str:
    """The first line of an exception's message, short, or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__
