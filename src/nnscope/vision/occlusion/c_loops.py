"""The C loops of c_loops.c behind one checked Python function each.

Every argument is passed by keyword and every size the C code loops over is read from the shapes
of the arrays themselves, so a swapped pair of numbers cannot reach C. Before each call the
arrays are checked: float32 tensors and int32 numpy index arrays, contiguous, of the shapes the
loop reads, indices inside the maps they index, sizes within the C code's fixed buffers. A
failed check raises CLoopArgumentError (kept under `python -O`, unlike an assert); nothing is
cast silently. ctypes releases the GIL during a call, so the loops of two batches run on two
cores at once.
"""

import ctypes

import numpy as np
import torch

from nnscope.errors import NnscopeError
from nnscope.options.occlusion import SIDE
from nnscope.vision.occlusion import c_build

REGION_SIDE = SIDE + 8  # first_block's input region buffer is REGION_SIDE x REGION_SIDE floats
MAX_CHANNELS = 256  # first_block's conv buffer holds 4 x MAX_CHANNELS floats
MAX_WINDOW_FLOATS = 1 << 18  # window_logits keeps one window (h * w * C floats) on the stack: 1 MiB at most


class CLoopArgumentError(NnscopeError):
    """An argument of a C loop that does not have the dtype, layout, shape or range the loop reads."""


def fits(channels: int, kernel_size: int, side: int = SIDE) -> bool:
    """Whether first_block's buffers hold a first block of `channels` outputs and k x k kernels on
    side x side images (its input region and 4 x MAX_CHANNELS conv outputs)."""
    return channels <= MAX_CHANNELS and side + kernel_size - 1 <= REGION_SIDE


def for_model(config) -> "CLoops | None":
    """The C loops if they are built here and serve a model of this config (nnscope.model.CNNConfig)."""
    if not fits(config.channels[0], config.kernel_size):
        return None
    library = c_build.load()
    return None if library is None else CLoops(library)


def _floats(name: str, x, shape: tuple) -> int:
    """The address of float32 tensor `x` after checking it: on the CPU, contiguous, of `shape`
    (None in it: any length)."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
        raise CLoopArgumentError(f"{name}: {type(x).__name__} {getattr(x, 'dtype', '')}; expected a float32 tensor")
    if x.device.type != "cpu" or not x.is_contiguous():
        raise CLoopArgumentError(f"{name}: expected a contiguous tensor on the CPU (got strides {x.stride()} "
                                 f"on {x.device})")
    if x.ndim != len(shape) or any(want is not None and got != want for got, want in zip(x.shape, shape)):
        raise CLoopArgumentError(f"{name}: shape {tuple(x.shape)}; expected {shape}")
    return x.data_ptr()


def _optional_floats(name: str, x, shape: tuple) -> int | None:
    """As _floats, or None (C's NULL) for None."""
    return None if x is None else _floats(name, x, shape)


def _norm(scale, shift, channels: int) -> tuple:
    """The addresses of batch norm's scale and shift (C,), both given or both None (folded)."""
    if (scale is None) != (shift is None):
        raise CLoopArgumentError("scale, shift: expected both or neither")
    return _optional_floats("scale", scale, (channels,)), _optional_floats("shift", shift, (channels,))


def _indices(name: str, a, shape: tuple, low: int | None = None, high: int | None = None) -> int:
    """The address of int32 numpy array `a` after checking it: contiguous, of `shape`, every value
    in [low, high)."""
    if not isinstance(a, np.ndarray) or a.dtype != np.int32:
        raise CLoopArgumentError(f"{name}: {type(a).__name__} {getattr(a, 'dtype', '')}; expected an int32 numpy array")
    if not a.flags.c_contiguous:
        raise CLoopArgumentError(f"{name}: expected a contiguous array (got strides {a.strides})")
    if a.shape != shape:
        raise CLoopArgumentError(f"{name}: shape {a.shape}; expected {shape}")
    if a.size and ((low is not None and a.min() < low) or (high is not None and a.max() >= high)):
        raise CLoopArgumentError(f"{name}: values {a.min()} to {a.max()}; expected {low} to {high - 1}")
    return a.ctypes.data


def _limit(name: str, value: int, low: int, high: int) -> int:
    """`value` if low <= value <= high, else CLoopArgumentError: a size the C buffers cannot hold."""
    if not low <= value <= high:
        raise CLoopArgumentError(f"{name}: {value}; expected {low} to {high} (the C loops' buffers)")
    return value


class CLoops:
    """The four loops of the compiled library, each a function of keyword arguments."""

    def __init__(self, library: ctypes.CDLL):
        self.library = library

    def first_block(self, *, padded, item_image, box, pasted, fill: float, top, left, h: int, w: int, pad: int,
                    weight, bias, pool: bool, scale, shift, out) -> None:
        """The first block's fresh windows out (B, h, w, C) at (top, left) of its output: the images
        padded (N, Hp, Wp) (normalised, zero-padded by `pad`), item b being image item_image[b] with
        box[b] (top, bottom, left, right) set to `fill` or to pasted[b] (bh, bw); weight (k, k, C)."""
        count, (images, height, width), (k, _, channels) = len(item_image), padded.shape, weight.shape
        s = 2 if pool else 1
        region_h, region_w = _limit("h", h * s + k - 1, k, REGION_SIDE), _limit("w", w * s + k - 1, k, REGION_SIDE)
        _limit("channels", channels, 1, MAX_CHANNELS)
        bh, bw = (0, 0) if pasted is None else pasted.shape[1:]
        if pasted is not None and len(box) and ((box[:, 1] - box[:, 0]).max() > bh or (box[:, 3] - box[:, 2]).max() > bw):
            raise CLoopArgumentError(f"box: a box larger than the pasted squares ({bh} x {bw})")
        self.library.first_block(
            ctypes.c_void_p(_floats("padded", padded, (images, height, width))), height, width,
            ctypes.c_void_p(_indices("item_image", item_image, (count,), 0, images)),
            ctypes.c_void_p(_indices("box", box, (count, 4))),
            ctypes.c_void_p(_optional_floats("pasted", pasted, (count, bh, bw))), bh, bw, ctypes.c_float(fill),
            ctypes.c_void_p(_indices("top", top, (count,), 0, (height - region_h) // s + 1)),  # C reads from top * s
            ctypes.c_void_p(_indices("left", left, (count,), 0, (width - region_w) // s + 1)),
            count, h, w, k, pad, ctypes.c_void_p(_floats("weight", weight, (k, k, channels))),
            ctypes.c_void_p(_optional_floats("bias", bias, (channels,))), int(bool(pool)),
            *map(ctypes.c_void_p, _norm(scale, shift, channels)), channels,
            ctypes.c_void_p(_floats("out", out, (count, h, w, channels))))

    def paste_region(self, *, full, item_image, top, left, fresh, window_top, window_left, pad: int, out) -> None:
        """Later blocks' input regions out (B, Hr, Wr, C): of the unoccluded input full (N, Hp, Wp, C)
        (zero-padded by `pad`) at (top, left), with the previous block's fresh windows (B, h, w, C),
        at (window_top, window_left) of the map, written over them."""
        count, (images, height, width, channels) = len(item_image), full.shape
        region_h, region_w, h, w = out.shape[1], out.shape[2], fresh.shape[1], fresh.shape[2]
        self.library.paste_region(
            ctypes.c_void_p(_floats("full", full, (images, height, width, channels))), height, width, channels,
            ctypes.c_void_p(_indices("item_image", item_image, (count,), 0, images)),
            ctypes.c_void_p(_indices("top", top, (count,), 0, height - region_h + 1)),
            ctypes.c_void_p(_indices("left", left, (count,), 0, width - region_w + 1)), count, region_h, region_w,
            ctypes.c_void_p(_floats("fresh", fresh, (count, h, w, channels))),
            ctypes.c_void_p(_indices("window_top", window_top, (count,))),
            ctypes.c_void_p(_indices("window_left", window_left, (count,))), h, w, pad,
            ctypes.c_void_p(_floats("out", out, (count, region_h, region_w, channels))))

    def pool_norm_relu(self, *, conv, pool: bool, scale, shift, out) -> None:
        """Pool (2 x 2 when `pool`), batch norm (scale, shift (C,), or None) and ReLU of conv outputs
        (B, Ho, Wo, C) into out (B, Ho / s, Wo / s, C)."""
        count, height, width, channels = conv.shape
        s = 2 if pool else 1
        self.library.pool_norm_relu(
            ctypes.c_void_p(_floats("conv", conv, (count, height, width, channels))), count, height, width, channels,
            int(bool(pool)), *map(ctypes.c_void_p, _norm(scale, shift, channels)),
            ctypes.c_void_p(_floats("out", out, (count, height // s, width // s, channels))))

    def window_logits(self, *, without, weight, item_image, top, left, fresh, raw: bool, scale, shift, out) -> None:
        """Logits out (B, K) of the last block's fresh windows (B, h, w, C) at (top, left): the
        logits without the window, without (N, places_h, places_w, K), plus weight (K, H * W * C)
        (the fc weights, channels-last) times the window; `raw`: batch norm and ReLU applied here."""
        count, (images, places_h, places_w, classes), (_, h, w, channels) = len(item_image), without.shape, fresh.shape
        height, width = places_h + h - 1, places_w + w - 1  # of the last map
        _limit("h * w * C", h * w * channels, 1, MAX_WINDOW_FLOATS)
        self.library.window_logits(
            ctypes.c_void_p(_floats("without", without, (images, places_h, places_w, classes))), places_h, places_w,
            classes, ctypes.c_void_p(_floats("weight", weight, (classes, height * width * channels))), height, width,
            channels, ctypes.c_void_p(_indices("item_image", item_image, (count,), 0, images)),
            ctypes.c_void_p(_indices("top", top, (count,), 0, places_h)),
            ctypes.c_void_p(_indices("left", left, (count,), 0, places_w)), count,
            ctypes.c_void_p(_floats("fresh", fresh, (count, h, w, channels))), h, w, int(bool(raw)),
            *map(ctypes.c_void_p, _norm(scale, shift, channels)),
            ctypes.c_void_p(_floats("out", out, (count, classes))))
