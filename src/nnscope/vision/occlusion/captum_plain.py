"""Captum's Occlusion semantics, computed plainly: every window occluded, the forward run on it.

The fallback of nnscope.Occlusion for what the incremental engine does not take (several input
tensors, inputs that are not 4-D images, windows that do not span all channels, extra forward
arguments, a forward function that is not an nn.Module) and the home of the argument checks both
share. Semantics follow captum/attr/_core/occlusion.py and feature_ablation.py (Captum 0.9): the
window starts at index 0 of every axis and moves by the stride until the axis is covered (the last
window may be cut off at the edge); each input feature's attribution is the mean over the windows
covering it of (unoccluded output - occluded output) of the target; each input tensor is
occluded on its own, one window at a time.
"""

import math
import sys

import numpy as np
import torch

from nnscope.errors import NnscopeError


class OcclusionArgumentError(NnscopeError, AssertionError):
    """Bad Occlusion arguments; also an AssertionError, which is what Captum raises for them."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise OcclusionArgumentError(message)


def format_geometry(inputs: tuple, windows, strides) -> tuple[tuple, tuple, tuple]:
    """Per input tensor: window shape, stride (int or per-axis tuple) and number of window places
    per axis (Captum's shift counts), checked as Captum checks them."""
    if strides is None:
        strides = tuple(1 for _ in inputs)
    if len(inputs) == 1 and not (isinstance(strides, tuple) and len(strides) == 1):
        strides = (strides,)
    check(isinstance(strides, tuple) and len(strides) == len(inputs),
          f"strides: expected one per input tensor ({len(inputs)}), got {strides}")
    if windows and isinstance(windows[0], int):
        windows = (windows,)
    check(isinstance(windows, tuple) and len(windows) == len(inputs),
          f"sliding_window_shapes: expected one per input tensor ({len(inputs)}), got {windows}")
    counts = []
    for x, window, stride in zip(inputs, windows, strides):
        axes = x.dim() - 1
        check(isinstance(window, tuple) and len(window) == axes,
              f"sliding_window_shapes: {window} for an input of shape {tuple(x.shape)}; expected {axes} numbers")
        check(isinstance(stride, int) or (isinstance(stride, tuple) and len(stride) == axes),
              f"strides: {stride} for an input of shape {tuple(x.shape)}; expected an int or {axes} numbers")
        room = np.subtract(x.shape[1:], window)
        check(bool((room >= 0).all()), f"sliding_window_shapes: {window} exceeds the input {tuple(x.shape[1:])}")
        check(bool(np.logical_or(room == 0, np.array(stride) <= np.array(window)).all()),
              f"strides: {stride} larger than the window {window} along an axis it does not cover")
        counts.append(tuple(int(c) for c in np.ceil(np.divide(room, stride)).astype(int) + 1))
    return tuple(windows), strides, tuple(counts)


def select_targets(output: torch.Tensor, target) -> torch.Tensor:
    """The target's outputs per example, as captum._utils.common._select_targets picks them."""
    if target is None:
        return output
    if isinstance(target, torch.Tensor) and target.numel() == 1 and isinstance(target.item(), int):
        target = int(target.item())
    if isinstance(target, (int, tuple)):
        index = (target,) if isinstance(target, int) else target
        check(len(index) <= output.dim() - 1, f"target: {target} for outputs of shape {tuple(output.shape)}")
        check_in_range(index, output.shape[1:], -1)
        return output[(slice(None), *index)]
    if isinstance(target, torch.Tensor):
        check(target.dim() == 1 and target.numel() == len(output) and output.dim() == 2,
              f"target: a tensor of shape {tuple(target.shape)} for outputs of shape {tuple(output.shape)}")
        check(not target.is_floating_point(), f"target: a tensor of {target.dtype}; expected integer class numbers")
        check_in_range([int(target.min()), int(target.max())], output.shape[1:] * 2, 0)
        return torch.gather(output, 1, target.reshape(-1, 1).to(output.device)).squeeze(-1)
    check(isinstance(target, list) and len(target) == len(output),
          f"target: expected an int, a tuple, a tensor or a list of {len(output)}, got {type(target).__name__}")
    if isinstance(target[0], int):
        check(output.dim() == 2, "target: a list of ints needs (N, K) outputs")
        check_in_range([min(target), max(target)], output.shape[1:] * 2, 0)
        return torch.gather(output, 1, torch.tensor(target, device=output.device).reshape(-1, 1)).squeeze(-1)
    for t in target:
        check_in_range(t, output.shape[1:], -1)
    return torch.stack([output[(i, *t)] for i, t in enumerate(target)])


def check_in_range(index, sizes, lowest: int) -> None:
    """Each index within its output axis: from -size (lowest -1, Python's negative indexing) or 0 to size - 1."""
    for i, size in zip(index, sizes):
        check(isinstance(i, int) and (size * lowest if lowest else 0) <= i < size,
              f"target: {i} is out of range for outputs of shape (N, {', '.join(map(str, sizes))}); "
              f"expected {'-' + str(size) if lowest else 0} to {size - 1}")


def check_finite(baselines, name: str = "baselines") -> None:
    """A NaN or infinite fill would give maps that are NaN, or worse, numbers that look real."""
    for b in baselines if isinstance(baselines, tuple) else (baselines,):
        if isinstance(b, (int, float, torch.Tensor)):
            finite = bool(torch.isfinite(torch.as_tensor(b, dtype=torch.float64)).all())
            check(finite, f"{name}: {b if not isinstance(b, torch.Tensor) else 'a tensor with NaN or infinite values'}; "
                          "expected finite numbers")


def expand_target(target, copies: int):
    """The target for `copies` stacked copies of the batch."""
    if isinstance(target, list):
        return target * copies
    if isinstance(target, torch.Tensor) and target.numel() > 1:
        return torch.cat([target] * copies)
    return target


def forward_output(forward, inputs: tuple, target, extra) -> torch.Tensor:
    """forward(*inputs, *extra) with the target's outputs picked, as a tensor."""
    out = forward(*inputs, *(extra or ()))
    if not isinstance(out, torch.Tensor):
        check(isinstance(out, (int, float)), f"forward_func returned {type(out).__name__}; expected a tensor or number")
        out = torch.tensor(out)
    return select_targets(out, target)


class Progress:
    """'Occlusion attribution: 40% (2/5)' on stderr, as Captum's progress prints it."""

    def __init__(self, total: int, show: bool):
        self.total, self.show, self.done = total, show, 0

    def update(self, steps: int = 1) -> None:
        self.done += steps
        if self.show:
            end = "\n" if self.done >= self.total else "\r"
            sys.stderr.write(f"Occlusion attribution: {100 * self.done // self.total}% ({self.done}/{self.total}){end}")


def plain_occlusion(forward, inputs: tuple, windows, strides, baselines, target, extra, per_eval: int,
                    show_progress: bool = False) -> tuple:
    """Attributions per input tensor, each (n_outputs, *input.shape[1:]), float32, one forward per
    `per_eval` windows."""
    windows, strides, counts = format_geometry(inputs, windows, strides)
    check(isinstance(per_eval, int) and per_eval >= 1, f"perturbations_per_eval: {per_eval}; expected an int >= 1")
    baselines = tuple(0 for _ in inputs) if baselines is None else baselines
    baselines = baselines if isinstance(baselines, tuple) else (baselines,)
    check(all(isinstance(b, (torch.Tensor, int, float)) for b in baselines), "baselines: expected tensors or numbers")
    extra = None if extra is None else (extra if isinstance(extra, tuple) else (extra,))
    places = [(i, f) for i, c in enumerate(counts) for f in range(math.prod(c))]  # (tensor, window number)
    progress = Progress(math.ceil(len(places) / per_eval) + 1, show_progress)
    with torch.no_grad():
        initial = forward_output(forward, tuple(x.clone() for x in inputs), target, extra)  # it may write into them
        progress.update()
        n_out, dtype, N = initial.numel(), initial.dtype, len(inputs[0])
        totals = [torch.zeros((n_out, *x.shape[1:]), dtype=dtype, device=x.device) for x in inputs]
        weights = [torch.zeros((n_out, *x.shape[1:]), device=x.device) for x in inputs]
        for first in range(0, len(places), per_eval):
            chunk = places[first:first + per_eval]
            k = len(chunk)
            masks = [torch.zeros((k, 1, *x.shape[1:]), dtype=torch.long, device=x.device) for x in inputs]
            for j, (i, f) in enumerate(chunk):  # Captum's numbering: the first axis moves fastest
                corner = []
                for axis, count in enumerate(counts[i]):
                    step = strides[i] if isinstance(strides[i], int) else strides[i][axis]
                    corner.append((f % count) * step)
                    f //= count
                masks[i][(j, 0, *(slice(c, c + w) for c, w in zip(corner, windows[i])))] = 1
            touched = {i for i, _ in chunk}
            batch = []
            for i, (x, mask) in enumerate(zip(inputs, masks)):
                if i not in touched:
                    batch.append(torch.cat([x] * k))
                    continue
                b = baselines[i].reshape((1,) + tuple(baselines[i].shape)) if isinstance(baselines[i], torch.Tensor) else baselines[i]
                repeated = torch.cat([x] * k).reshape((k, N) + tuple(x.shape[1:]))
                batch.append((repeated * (1 - mask).to(x.dtype) + b * mask.to(x.dtype)).reshape((k * N,) + tuple(x.shape[1:])))
            more = None if extra is None else tuple(
                torch.cat([a] * k) if isinstance(a, torch.Tensor) and a.dim() > 0 else a for a in extra)
            out = forward_output(forward, tuple(batch), expand_target(target, k), more)
            check(per_eval == 1 or (out.dim() > 0 and out.shape[0] == k * initial.shape[0]),
                  "forward_func: its outputs must grow with the batch when perturbations_per_eval > 1")
            diff = initial.reshape(1, -1) - out.reshape(-1, n_out)  # (k, n_out)
            for i in touched:
                weights[i] += masks[i].float().sum(0)
                shaped = diff.reshape(diff.shape + (inputs[i].dim() - 1) * (1,)).to(totals[i].device)
                totals[i] += (shaped * masks[i].to(dtype)).sum(0)
            progress.update()
    return tuple(t.float() / w for t, w in zip(totals, weights))
