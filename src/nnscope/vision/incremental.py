"""Incremental inference for occlusion (Nakandala, Kumar, Papakonstantinou, SIGMOD 2019), exact.

An occluding patch changes only a few input pixels. Each block recomputes only a window covering
the outputs that change (nnscope.vision.windows gives their exact span), reading its input from
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
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from nnscope.model import CNN
from nnscope.threads import one_thread
from nnscope.vision.windows import block_spans, sizes, window_starts


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N * H * W, C): one row per position, channels-last."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


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

    def __init__(self, model: CNN):
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
            outside = torch.ones(height - h + 1, width - w + 1, height, width)
            for t in range(height - h + 1):
                for l in range(width - w + 1):
                    outside[t, l, t : t + h, l : l + w] = 0
            with one_thread():
                base.without[(h, w)] = self.fc_bias + torch.einsum("tlp,npk->ntlk", outside.flatten(2), base.shares)
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
        """Logits (B, classes) of the unoccluded last maps with the fresh window (flat rows, top,
        left, h, w; items sorted by window place) written over them."""
        fresh, top, left, h, w = window
        count = len(image)
        rows = fresh.reshape(count, -1)  # item b's window in (row, column, channel) order
        without = self._without(base, h, w)
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
        image, box = np.asarray(image, np.int32), np.asarray(box, np.int32)
        assert size is None or ((box[:, 1] - box[:, 0] <= size[0]).all() and (box[:, 3] - box[:, 2] <= size[1]).all())
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
        window = None  # the previous block's fresh output: (flat rows, top, left, h, w)
        for i, (block, (top, left, h, w)) in enumerate(zip(self.blocks, windows)):
            scale = 2 if block[-1] else 1  # the conv computes whole pool cells
            region = (top * scale, left * scale, h * scale + 2 * self.pad, w * scale + 2 * self.pad)
            if i == 0:
                x = self._input_region(base.inputs[0], image, region, box, fill, pasted)
            else:
                x = self._region(base.inputs[i], image, region, window)
            out = self._block_output(F.conv2d(x, block[0], block[1]), *block[2:4], block[4])  # (B, C', h, w)
            window = (_flat(out), top, left, h, w)
        logits = torch.empty(len(order), self.fc_bias.shape[0])
        logits[torch.from_numpy(order)] = self._window_logits(base, image, window)
        return logits

    def _region(self, full: torch.Tensor, image: np.ndarray, region: tuple, window: tuple):
        """Per item, the region (top, left, height, width) of `full` (N, C, H, W, the map zero-padded
        by self.pad) with the fresh `window` (flat rows (B * h * w, C), top, left, h, w; in map
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
        source = torch.cat([_flat(full), fresh])  # the index picks from the unoccluded map or the window
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
