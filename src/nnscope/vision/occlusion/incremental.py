"""Incremental inference for occlusion (Nakandala, Kumar, Papakonstantinou, SIGMOD 2019), exact.

An occluding patch changes only a few input pixels. Each block recomputes only a window covering
the outputs that change (spans.py gives their exact span), reading its input from
the unoccluded activations, computed once per image, with the previous block's fresh window
written over them. All windows of a batch share one size per block and sit at per-item offsets;
one index per block cuts each item's input region out of [unoccluded map; fresh windows], so
gather and paste are a single `index_select`, and many positions of many images run through one
conv call per block. Everything is stored channels-last (rows of C values), the layout the CPU
conv kernels are fastest on and that makes a gathered row one channel vector. Batch norm (eval
mode) is a per-channel affine after the pool, folded into the conv where its scale is positive.

The last layer is linear, so the logits never need the whole last map: they are the logits of
the unoccluded map with the window's positions left out (a small table per window size and
place, from each position's share of the logits) plus the fresh window times its slice of the
weights, one matrix product per window place.

The loops around the convs of the later blocks (the first block whole, cutting and pasting
regions, pool + batch norm + ReLU, the window's logits) run in C where a compiler is available
(c_loops.py); the torch versions here are the fallback and the tests' reference.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from nnscope.errors import NnscopeError
from nnscope.model import CNN
from nnscope.threads import one_thread
from nnscope.vision.occlusion import c_loops
from nnscope.vision.occlusion.spans import block_spans, sizes, window_starts


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N * H * W, C): one row per position, channels-last."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _flat_channels(scale, shift) -> tuple:
    """Batch norm's scale and shift as (C',) tensors, or (None, None) where it is folded into the conv."""
    return (None, None) if scale is None else (scale.reshape(-1), shift.reshape(-1))


@dataclass
class Unoccluded:
    """What incremental inference reads of the unoccluded images, computed once per group of images."""

    inputs: list[torch.Tensor]  # per block, its zero-padded input (N, C, H + 2p, W + 2p), channels-last
    last: torch.Tensor  # the last block's output (N, C, H, W), channels-last
    logits: torch.Tensor  # (N, classes)
    shares: torch.Tensor  # (N, H * W, classes): each position's share of the logits (bias left out)
    # (h, w) -> (N, H - h + 1, W - w + 1, classes): logits without an h x w window at each place
    without: dict = field(default_factory=dict)


class IncrementalCNN:
    """The CNN of nnscope.model rearranged for incremental occlusion: per-block affine, cached bases."""

    def __init__(self, model: CNN, compiled: bool = True):
        """`compiled`: run the loops around the convs in C (c_loops.py) where a
        compiler is available; False: always the torch version."""
        self.mean, self.std = float(model.mean), float(model.std)
        # per block: conv weight (C', C, k, k), conv bias or None, batch norm as scale and shift
        # (C', 1, 1) or None, pool flag. A positive scale commutes with the max pool, so batch norm
        # folds into the conv; otherwise it stays after the pool, as in the model (a negative scale
        # would turn the max into a min).
        self.blocks = []
        for i, pool in enumerate(model.config.pool_after, start=1):
            conv, bn = getattr(model, f"conv{i}"), getattr(model, f"bn{i}")
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)  # (C',)
            shift = bn.bias.detach() - bn.running_mean * scale
            if (scale > 0).all():
                self.blocks.append((conv.weight.detach() * scale[:, None, None, None], shift, None, None, pool))
            else:
                self.blocks.append((conv.weight.detach(), None, scale[:, None, None], shift[:, None, None], pool))
        self.pools = [block[-1] for block in self.blocks]
        self.pad = model.config.kernel_size // 2
        self.c_loops = c_loops.for_model(model.config) if compiled else None
        self.first_weight = self.blocks[0][0][:, 0].permute(1, 2, 0).contiguous()  # (k, k, C'), as the C loop reads it
        # without a pool after the last conv, the head's C loop applies its batch norm and ReLU as it
        # reads each window, which saves a pass over all of them
        self._raw_last = self.c_loops is not None and not self.pools[-1]
        # fc weights reordered from (c, h, w) to (h, w, c): a channels-last map feeds them without a copy
        channels = model.config.channels[-1]
        side = round((model.fc.in_features // channels) ** 0.5)
        self.fc_weight = (model.fc.weight.detach().reshape(-1, channels, side, side).permute(0, 2, 3, 1)
                          .reshape(model.fc.out_features, -1))
        self.fc_bias = model.fc.bias.detach()
        self.last_shape = (channels, side, side)  # of the last block's output (C, H, W)
        self.window_weights = {}  # (h, w, top, left) -> fc weights of that window, see _window_weight

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 10) of last-block outputs x (B, C, H, W), stored channels-last or not."""
        with one_thread():
            return torch.addmm(self.fc_bias, x.permute(0, 2, 3, 1).reshape(len(x), -1), self.fc_weight.T)

    @torch.no_grad()
    def base(self, images: torch.Tensor) -> Unoccluded:
        """Unoccluded activations of images (N, 1, 28, 28)."""
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        inputs = []
        for weight, bias, scale, shift, pool in self.blocks:
            padded = F.pad(x, (self.pad,) * 4).contiguous(memory_format=torch.channels_last)
            inputs.append(padded)
            x = self._block_output(F.conv2d(padded, weight, bias), scale, shift, pool)
        last = x.contiguous(memory_format=torch.channels_last)
        count, channels, height, width = last.shape
        with one_thread():
            shares = torch.einsum("npc,kpc->npk", _flat(last).view(count, height * width, channels),
                                  self.fc_weight.view(-1, height * width, channels))
        return Unoccluded(inputs, last, self.head(last), shares)

    def _without(self, base: Unoccluded, h: int, w: int) -> torch.Tensor:
        """base.without[(h, w)], computed on first use: the sum of the shares outside the window."""
        if (h, w) not in base.without:
            height, width = base.last.shape[-2:]
            rows, cols = torch.arange(height), torch.arange(width)
            in_rows = (rows >= torch.arange(height - h + 1)[:, None]) & (rows < torch.arange(h, height + 1)[:, None])
            in_cols = (cols >= torch.arange(width - w + 1)[:, None]) & (cols < torch.arange(w, width + 1)[:, None])
            # (places_h, places_w, H, W): 1 outside the window placed at (t, l), else 0
            outside = (~(in_rows[:, None, :, None] & in_cols[None, :, None, :])).float()
            with one_thread():
                without = self.fc_bias + torch.einsum("tlp,npk->ntlk", outside.flatten(2), base.shares)
                base.without[(h, w)] = without.contiguous()
        return base.without[(h, w)]

    def _window_weight(self, h: int, w: int, top: int, left: int) -> torch.Tensor:
        """The fc weights (classes, h * w * C) that read an h x w window at (top, left) of the last map."""
        key = (h, w, top, left)
        if key not in self.window_weights:
            channels, height, width = self.last_shape
            weight = self.fc_weight.view(-1, height, width, channels)[:, top : top + h, left : left + w]
            self.window_weights[key] = weight.reshape(len(weight), -1)  # (classes, h * w * C)
        return self.window_weights[key]

    def _window_logits(self, base: Unoccluded, image: np.ndarray, window: tuple) -> torch.Tensor:
        """Logits (B, classes) of the unoccluded last maps with the fresh windows written over
        them: window = ((B, h, w, C), top, left, h, w), items sorted by window place (the torch
        loop's matrix products go place by place); with _raw_last, the last conv's raw outputs."""
        fresh, top, left, h, w = window
        count = len(image)
        without = self._without(base, h, w)
        if self.c_loops is not None:
            out = torch.empty(count, without.shape[-1])
            scale, shift = _flat_channels(*self.blocks[-1][2:4])
            self.c_loops.window_logits(without=without, weight=self.fc_weight, item_image=image, top=top, left=left,
                                       fresh=fresh, raw=self._raw_last, scale=scale, shift=shift, out=out)
            return out
        rows = fresh.reshape(count, -1)  # item b's window in (row, column, channel) order
        outside = without[torch.from_numpy(image), torch.from_numpy(top), torch.from_numpy(left)]  # (B, classes)
        out = torch.empty_like(outside)
        place = top * self.last_shape[-1] + left  # as logits() sorted the items
        bounds = [0, *(np.flatnonzero(np.diff(place)) + 1).tolist(), count]  # where each place's items begin
        with one_thread():
            for start, end in zip(bounds[:-1], bounds[1:]):
                weight = self._window_weight(h, w, int(top[start]), int(left[start]))
                torch.addmm(outside[start:end], rows[start:end], weight.T, out=out[start:end])
        return out

    @staticmethod
    def _block_output(conv: torch.Tensor, scale, shift, pool: bool) -> torch.Tensor:
        """(pool ->) batch norm -> ReLU of a conv output; pooling first makes the rest 4x cheaper."""
        x = F.max_pool2d(conv, 2) if pool else conv
        return torch.relu_(x if scale is None else x * scale + shift)

    @torch.no_grad()
    def logits(self, base: Unoccluded, image, box, fill: float, size=None,
               pasted: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, 10) of occluded images: item b is image[b] (an index into `base`) with the
        input box[b] = (top, bottom, left, right), half-open, set to `fill`. With `pasted`
        (B, h, w) pixels in [0, 1] and every box h x w, the box gets those instead. `size`, if
        given, is a (height, width) every box fits in (checked only)."""
        # int32 index arithmetic: half the memory traffic of int64, and index_select takes it
        if not np.isfinite(fill):
            raise NnscopeError(f"fill: {fill}; expected a finite number")
        image, box = np.asarray(image, np.int32), np.asarray(box, np.int32)
        if size is not None and ((box[:, 1] - box[:, 0] > size[0]).any() or (box[:, 3] - box[:, 2] > size[1]).any()):
            raise ValueError(f"box: a box larger than the size {tuple(size)} given")
        side_h, side_w = base.inputs[0].shape[-2] - 2 * self.pad, base.inputs[0].shape[-1] - 2 * self.pad
        spans_h = block_spans(box[:, 0], box[:, 1], side_h, self.pad, self.pools)
        spans_w = block_spans(box[:, 2], box[:, 3], side_w, self.pad, self.pools)
        windows = [(window_starts(lo_h, h, out_h), window_starts(lo_w, w, out_w), h, w)
                   for (lo_h, _, out_h), (lo_w, _, out_w), h, w
                   in zip(spans_h, spans_w, sizes(spans_h), sizes(spans_w))]
        # items sorted by where their last window lies, so each place's rows meet the head together
        order = np.argsort(windows[-1][0] * self.last_shape[-1] + windows[-1][1], kind="stable")
        image, box = image[order], box[order]
        windows = [(top[order], left[order], h, w) for top, left, h, w in windows]
        pasted = None if pasted is None else pasted[torch.from_numpy(order)]
        window = None  # the previous block's fresh output: ((B, h, w, C), top, left, h, w)
        for i, (top, left, h, w) in enumerate(windows):
            if i == 0:
                fresh = self._first_window(base, image, box, fill, pasted, top, left, h, w)
            else:
                fresh = self._next_window(i, base, image, top, left, h, w, window, raw=i == len(windows) - 1)
            window = (fresh, top, left, h, w)
        logits = torch.empty(len(order), self.fc_bias.shape[0])
        logits[torch.from_numpy(order)] = self._window_logits(base, image, window)
        return logits

    def _first_window(self, base: Unoccluded, image: np.ndarray, box: np.ndarray, fill: float,
                      pasted: torch.Tensor | None, top: np.ndarray, left: np.ndarray, h: int, w: int) -> torch.Tensor:
        """The first block's fresh windows (B, h, w, C') at (top, left) of its output."""
        weight, bias, scale, shift, pool = self.blocks[0]
        s = 2 if pool else 1  # the conv computes whole pool cells
        if self.c_loops is None:
            region = (top * s, left * s, h * s + 2 * self.pad, w * s + 2 * self.pad)
            x = self._input_region(base.inputs[0], image, region, box, fill, pasted)
            return self._block_output(F.conv2d(x, weight, bias), scale, shift, pool).permute(0, 2, 3, 1)
        padded = base.inputs[0][:, 0]  # (N, Hp, Wp): one input channel
        if pasted is not None:
            pasted = ((pasted.float() - self.mean) / self.std).contiguous()
        out = torch.empty(len(image), h, w, weight.shape[0])
        scale, shift = _flat_channels(scale, shift)
        self.c_loops.first_block(padded=padded, item_image=image, box=box, pasted=pasted,
                                 fill=(fill - self.mean) / self.std, top=top, left=left, h=h, w=w, pad=self.pad,
                                 weight=self.first_weight, bias=bias, pool=pool, scale=scale, shift=shift, out=out)
        return out

    def _next_window(self, i: int, base: Unoccluded, image: np.ndarray, top: np.ndarray, left: np.ndarray,
                     h: int, w: int, previous: tuple, raw: bool = False) -> torch.Tensor:
        """Block i's fresh windows (B, h, w, C') at (top, left) of its output, reading the previous
        block's fresh windows `previous` over the unoccluded input. `raw` (the last block): leave
        batch norm and ReLU to the head's C loop where it can (see _raw_last)."""
        weight, bias, scale, shift, pool = self.blocks[i]
        s = 2 if pool else 1
        region = (top * s, left * s, h * s + 2 * self.pad, w * s + 2 * self.pad)
        if self.c_loops is None:
            x = self._region(base.inputs[i], image, region, previous)
            return self._block_output(F.conv2d(x, weight, bias), scale, shift, pool).permute(0, 2, 3, 1)
        full = base.inputs[i].permute(0, 2, 3, 1)  # (N, Hp, Wp, C), stored so
        fresh, wtop, wleft, _, _ = previous
        x = torch.empty(len(image), region[2], region[3], full.shape[-1])
        self.c_loops.paste_region(full=full, item_image=image, top=region[0], left=region[1], fresh=fresh,
                                  window_top=wtop, window_left=wleft, pad=self.pad, out=x)
        conv = F.conv2d(x.permute(0, 3, 1, 2), weight, bias).permute(0, 2, 3, 1).contiguous()  # (B, sh, sw, C')
        if raw and self._raw_last:
            return conv
        out = torch.empty(len(image), h, w, conv.shape[-1])
        scale, shift = _flat_channels(scale, shift)
        self.c_loops.pool_norm_relu(conv=conv, pool=pool, scale=scale, shift=shift, out=out)
        return out

    def _region(self, full: torch.Tensor, image: np.ndarray, region: tuple, window: tuple):
        """Per item, the region (top, left, height, width) of `full` (N, C, H, W, the map zero-padded
        by self.pad) with the fresh `window` ((B, h, w, C), top, left, h, w; in map
        coordinates) written over the part of it that the region shows: (B, C, height, width)."""
        pad = self.pad
        top, left, height, width = region
        fresh, wtop, wleft, h, w = window
        count, channels, full_h, full_w = full.shape
        rows = top[:, None] + np.arange(height, dtype=np.int32)  # (B, height) in padded coordinates
        cols = left[:, None] + np.arange(width, dtype=np.int32)
        in_rows, in_cols = rows - pad - wtop[:, None], cols - pad - wleft[:, None]  # window coordinates
        row_ok, col_ok = (in_rows >= 0) & (in_rows < h), (in_cols >= 0) & (in_cols < w)
        items = np.arange(len(image), dtype=np.int32)[:, None, None]
        base_index = (image[:, None, None] * full_h + rows[:, :, None]) * full_w + cols[:, None, :]
        fresh_index = count * full_h * full_w + (items * h + in_rows[:, :, None]) * w + in_cols[:, None, :]
        index = np.where(row_ok[:, :, None] & col_ok[:, None, :], fresh_index, base_index)
        source = torch.cat([_flat(full), fresh.reshape(-1, channels)])  # the index picks from the unoccluded map or the window
        return self._gathered(source, index, channels)

    def _input_region(self, padded: torch.Tensor, image: np.ndarray, region: tuple, box: np.ndarray,
                      fill: float, pasted: torch.Tensor | None):
        """The first block's input region: normalised pixels, with `fill` (or `pasted`) inside the box."""
        top, left, height, width = region
        count, _, full_h, full_w = padded.shape
        rows = top[:, None] + np.arange(height, dtype=np.int32) - self.pad  # (B, height) in image coordinates
        cols = left[:, None] + np.arange(width, dtype=np.int32) - self.pad
        in_rows = (rows >= box[:, 0:1]) & (rows < box[:, 1:2])
        in_cols = (cols >= box[:, 2:3]) & (cols < box[:, 3:4])
        base_index = (image[:, None, None] * full_h + rows[:, :, None] + self.pad) * full_w + cols[:, None, :] + self.pad
        if pasted is None:
            fresh_index = np.full_like(base_index, count * full_h * full_w)
            values = torch.tensor([[fill]])
        else:
            h, w = pasted.shape[1:]
            items = np.arange(len(image), dtype=np.int32)[:, None, None]
            fresh_index = (count * full_h * full_w + (items * h + (rows - box[:, 0:1])[:, :, None]) * w
                           + (cols - box[:, 2:3])[:, None, :])
            values = pasted.reshape(-1, 1).float()
        index = np.where(in_rows[:, :, None] & in_cols[:, None, :], fresh_index, base_index)
        source = torch.cat([_flat(padded), (values - self.mean) / self.std])
        return self._gathered(source, index, 1)

    @staticmethod
    def _gathered(source: torch.Tensor, index: np.ndarray, channels: int) -> torch.Tensor:
        """Rows of `source` (M, C) picked by index (B, h, w), as a channels-last (B, C, h, w) tensor."""
        count, h, w = index.shape
        return source.index_select(0, torch.from_numpy(index.reshape(-1))).view(count, h, w, channels).permute(0, 3, 1, 2)
