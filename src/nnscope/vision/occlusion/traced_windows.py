"""Cutting per-item windows out of stored feature maps and pasting fresh windows into them.

Incremental occlusion keeps, for every image-position item of a batch, only a window of each
feature map: the rest equals the unoccluded map, stored once per image. Each item's window sits at
its own offset, and all windows of one node share one size, so a batch of windows is one tensor.
`gather` builds a batch of windows of any size at any offsets from the stored maps (padded where a
window reaches past the border) with each item's fresh window written over its place: one index
per axis, so gather and paste are two advanced-indexing calls for the whole batch.
"""

import torch


def channels_last(maps: torch.Tensor, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
                  fill: float = 0.0) -> torch.Tensor:
    """(N, C, H, W) -> (N, top + H + bottom, left + W + right, C) padded with `fill`; pad = (top, bottom, left, right)."""
    top, bottom, left, right = pad
    if any(pad):
        maps = torch.nn.functional.pad(maps, (left, right, top, bottom), value=fill)
    return maps.permute(0, 2, 3, 1).contiguous()


def gather(stored: torch.Tensor, pad_top: int, pad_left: int, image: torch.Tensor, rows: torch.Tensor,
           cols: torch.Tensor, size: tuple[int, int], fresh: torch.Tensor | None = None,
           fresh_rows: torch.Tensor | None = None, fresh_cols: torch.Tensor | None = None) -> torch.Tensor:
    """Windows (B, C, h, w) starting at map rows/cols (B,) of image[b] of the stored channels-last
    maps (N, H', W', C) padded by pad_top/pad_left, with the fresh windows (B, C, fh, fw) that start
    at fresh_rows/fresh_cols written over them where they overlap (the rest of a fresh window holds
    unoccluded values by construction, so dropping it is exact). The windows are written straight
    into one contiguous channels-last tensor, the layout the conv reads, so it copies nothing."""
    h, w = size
    N, Hp, Wp, C = stored.shape
    device = stored.device
    count = len(rows) * h * w  # one row of C values per window pixel, then one spare row
    row_index = (rows + pad_top)[:, None] + torch.arange(h, device=device)  # (B, h)
    col_index = (cols + pad_left)[:, None] + torch.arange(w, device=device)
    flat = (image * Hp)[:, None, None] + row_index[:, :, None]
    flat = (flat * Wp + col_index[:, None, :]).reshape(-1)  # (B * h * w) pixel numbers in the stored maps
    if fresh is None or not (fresh.shape[2] and fresh.shape[3]):
        out = stored.reshape(-1, C).index_select(0, flat)
    else:  # fresh values outside their item's window land on the spare row, dropped after
        out = stored.reshape(-1, C).index_select(0, torch.cat([flat, flat[:1]]))
        fresh_r = (fresh_rows - rows)[:, None] + torch.arange(fresh.shape[2], device=device)  # (B, fh)
        fresh_c = (fresh_cols - cols)[:, None] + torch.arange(fresh.shape[3], device=device)
        inside = ((fresh_r >= 0) & (fresh_r < h))[:, :, None] & ((fresh_c >= 0) & (fresh_c < w))[:, None, :]
        items = torch.arange(len(rows), device=device)[:, None, None] * h
        target = torch.where(inside, (items + fresh_r[:, :, None]) * w + fresh_c[:, None, :], count)  # (B, fh, fw)
        out.index_copy_(0, target.reshape(-1), fresh.permute(0, 2, 3, 1).reshape(-1, C).to(out.dtype))
    return out[:count].view(len(rows), h, w, C).permute(0, 3, 1, 2)  # (B, C, h, w), channels-last in memory


def full_maps(stored: torch.Tensor, image: torch.Tensor, fresh: torch.Tensor, rows: torch.Tensor,
              cols: torch.Tensor) -> torch.Tensor:
    """Whole maps (B, C, H, W), channels-last in memory: image[b]'s stored map (N, H, W, C) with
    the fresh window (B, C, h, w) at rows/cols (B,) written over it (windows lie inside the map).
    A plain copy of each map and one index_copy_, several times cheaper per value than gather."""
    N, H, W, C = stored.shape
    out = stored.index_select(0, image)  # (B, H, W, C): one contiguous copy per item
    h, w = fresh.shape[2:]
    device = stored.device
    r = rows[:, None] + torch.arange(h, device=device)  # (B, h)
    c = cols[:, None] + torch.arange(w, device=device)
    target = ((torch.arange(len(image), device=device)[:, None, None] * H + r[:, :, None]) * W + c[:, None, :])
    out.view(-1, C).index_copy_(0, target.reshape(-1), fresh.permute(0, 2, 3, 1).reshape(-1, C).to(out.dtype))
    return out.permute(0, 3, 1, 2)


def span_mask(starts: torch.Tensor, size: int, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """(B, size) booleans: which rows of windows starting at `starts` lie in [lo, hi)."""
    index = starts[:, None] + torch.arange(size, device=starts.device)
    return (index >= lo[:, None]) & (index < hi[:, None])
