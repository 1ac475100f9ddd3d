"""Incremental inference for occlusion (Nakandala, Kumar, Papakonstantinou, SIGMOD 2019), exact.

An occluding patch changes only a small window of the input. Through a 'same' conv of kernel k
the changed window grows by k // 2 on each side, through a 2x2 max pool it shrinks by half; so
each layer needs recomputing only over a small window, read from a copy of the unoccluded
activations computed once per image. The windows of a batch share one size (the largest), sit at
per-item offsets, and are cut and pasted with index tensors, so many positions of many images
run through one conv call per layer. Before a 2x2 max pool the conv output window is widened to
whole pool cells, so the pool reads nothing but fresh values. Batch norm (eval mode) is a
per-channel affine after the pool, folded into the conv where its scale is positive.
"""

import numpy as np
import torch
from torch.nn import functional as F

from nnscope.model import CNN


def _gather(full: torch.Tensor, image: np.ndarray, top: np.ndarray, left: np.ndarray, h: int, w: int):
    """Windows (B, C, h, w) cut from `full` (N, C, H, W): item b is image[b] at (top[b], left[b])."""
    # index arithmetic in numpy: tiny arrays, no thread-pool round trips
    rows = torch.from_numpy(top[:, None] + np.arange(h))  # (B, h)
    cols = torch.from_numpy(left[:, None] + np.arange(w))  # (B, w)
    items = torch.from_numpy(image)[:, None, None]
    # advanced indices around a slice put their dims first: (B, h, w, C), i.e. channels-last
    return full[items, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _paste(region: torch.Tensor, top: np.ndarray, left: np.ndarray, window: torch.Tensor, wtop: np.ndarray,
           wleft: np.ndarray) -> torch.Tensor:
    """`region` (B, C, hr, wr), whose item b sits at (top[b], left[b]) of its map, with `window`
    (B, C, h, w), sitting at (wtop[b], wleft[b]) and lying inside it, written over it in place."""
    count, _, hr, wr = region.shape
    h, w = window.shape[-2:]
    rows = (wtop - top)[:, None] + np.arange(h)  # (B, h) in region coordinates
    cols = (wleft - left)[:, None] + np.arange(w)
    assert rows.min() >= 0 and rows.max() < hr and cols.min() >= 0 and cols.max() < wr
    items = torch.arange(count)[:, None, None]
    region[items, :, torch.from_numpy(rows)[:, :, None], torch.from_numpy(cols)[:, None, :]] = window.permute(0, 2, 3, 1)
    return region


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
        self.pad = model.config.kernel_size // 2
        # fc weights reordered from (c, h, w) to (h, w, c): a channels-last map feeds them without a copy
        channels = model.config.channels[-1]
        side = round((model.fc.in_features // channels) ** 0.5)
        self.fc_weight = (model.fc.weight.detach().reshape(-1, channels, side, side).permute(0, 2, 3, 1)
                          .reshape(model.fc.out_features, -1))
        self.fc_bias = model.fc.bias.detach()

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 10) of last-block outputs x (B, C, H, W), stored channels-last or not."""
        return torch.addmm(self.fc_bias, x.permute(0, 2, 3, 1).reshape(len(x), -1), self.fc_weight.T)

    @torch.no_grad()
    def base(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unoccluded activations of images (N, 1, 28, 28): per block its zero-padded input, then
        the output of the last block."""
        x = (images - self.mean) / self.std
        stages = []
        for weight, bias, scale, shift, pool in self.blocks:
            padded = F.pad(x, (self.pad,) * 4)  # (N, C, H + 2p, W + 2p)
            conv = F.conv2d(padded, weight, bias)  # (N, C', H, W)
            # channels-last storage: a window cut from it reads whole channel vectors at a time
            stages.append(padded.contiguous(memory_format=torch.channels_last))
            x = F.max_pool2d(conv, 2) if pool else conv
            x = torch.relu(x if scale is None else x * scale + shift)
        return stages + [x]

    @torch.no_grad()
    def logits(self, base: list[torch.Tensor], image: np.ndarray, box: np.ndarray, fill: float,
               size: tuple[int, int], pasted: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, 10) of occluded images: item b is image[b] (an index into `base`) with the
        input box[b] = (top, bottom, left, right), half-open, set to `fill`; every box fits in `size`.
        With `pasted` (B, h, w) pixels in [0, 1] and every box exactly `size`, the box gets those instead."""
        h, w = size
        image, box = np.asarray(image, np.int64), np.asarray(box, np.int64)
        side_h, side_w = base[0].shape[-2] - 2 * self.pad, base[0].shape[-1] - 2 * self.pad
        top = np.minimum(box[:, 0], side_h - h)  # the window: `size` pixels, covering the box, inside the image
        left = np.minimum(box[:, 2], side_w - w)
        window = _gather(base[0], image, top + self.pad, left + self.pad, h, w)  # (B, 1, h, w) normalised
        rows = top[:, None] + np.arange(h)  # (B, h) absolute
        cols = left[:, None] + np.arange(w)
        inside = (((rows >= box[:, 0:1]) & (rows < box[:, 1:2]))[:, :, None]
                  & ((cols >= box[:, 2:3]) & (cols < box[:, 3:4]))[:, None, :])  # (B, h, w)
        value = fill if pasted is None else pasted[:, None]
        window = torch.where(torch.from_numpy(inside)[:, None], (value - self.mean) / self.std, window)
        for i, block in enumerate(self.blocks):
            window, top, left = self._block(base[i], block, image, window, top, left)
        if window.shape[-2:] != base[-1].shape[-2:]:  # the window does not cover the last map yet
            last = base[-1][torch.from_numpy(image)]  # (B, C, H, W) unoccluded output of the last block
            window = _paste(last, np.zeros_like(top), np.zeros_like(left), window, top, left)
        return self.head(window)

    def _block(self, padded_in, block, image, window, top, left):
        """One conv (-> pool) -> batch norm -> ReLU block over the changed window only:
        the new window and its top-left corner."""
        weight, bias, scale, shift, pool = block
        p = self.pad
        height, width = padded_in.shape[-2] - 2 * p, padded_in.shape[-1] - 2 * p
        h, w = window.shape[-2:]
        if pool:  # the conv output covers whole 2x2 cells: every pooled cell the change reaches
            ph, pw = min((h + 2 * p) // 2 + 1, height // 2), min((w + 2 * p) // 2 + 1, width // 2)
            out_top = 2 * np.clip((top - p) // 2, 0, height // 2 - ph)
            out_left = 2 * np.clip((left - p) // 2, 0, width // 2 - pw)
            h, w = 2 * ph, 2 * pw
        else:  # the change grows by p on each side, within the map
            h, w = min(h + 2 * p, height), min(w + 2 * p, width)
            out_top = np.clip(top - p, 0, height - h)
            out_left = np.clip(left - p, 0, width - w)
        # the input the output window reads: its rows out_top - p ... in unpadded coordinates,
        # i.e. from out_top in the padded map, with the changed window written over it
        region = _gather(padded_in, image, out_top, out_left, h + 2 * p, w + 2 * p)
        region = _paste(region, out_top - p, out_left - p, window, top, left)
        out = F.conv2d(region, weight, bias)  # (B, C', h, w)
        if pool:
            out, out_top, out_left = F.max_pool2d(out, 2), out_top // 2, out_left // 2
        return torch.relu_(out if scale is None else out * scale + shift), out_top, out_left
