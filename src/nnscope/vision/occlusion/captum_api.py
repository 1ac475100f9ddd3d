"""A drop-in for captum.attr.Occlusion, computed by nnscope's incremental engine.

`from nnscope import Occlusion` instead of `from captum.attr import Occlusion`: same constructor,
same `attribute` arguments, same result (shape, values within float rounding, float32). For 4-D
image batches occluded by windows spanning all channels, with an nn.Module as forward function and
no extra forward arguments, the outputs at every window place come from
nnscope.vision.occlusion.traced (exact incremental inference); anything else runs the plain
one-window-at-a-time algorithm of nnscope.vision.occlusion.captum_plain.
`perturbations_per_eval` only sizes the engine's batches (at least that many windows per pass).
"""

import torch
from torch import nn
from torch.nn import functional as F

from nnscope.vision.occlusion.captum_plain import (
    Progress,
    check,
    check_finite,
    expand_target,
    format_geometry,
    plain_occlusion,
    select_targets,
)
from nnscope.vision.occlusion.drill_down import drill_down_occlusion
from nnscope.vision.occlusion.traced import traced_occlusion


def _per_image_classes(target, count: int):
    """Captum's target as one output index per image where it is one, else None (each image's largest output)."""
    if isinstance(target, torch.Tensor):
        target = int(target.item()) if target.numel() == 1 else target.tolist()
    if isinstance(target, int):
        return [target] * count
    if isinstance(target, list) and target and isinstance(target[0], int):
        return target
    return None


def _window_sums(values: torch.Tensor, rows: int, cols: int, patch: tuple[int, int], stride: tuple[int, int],
                 side: tuple[int, int]) -> torch.Tensor:
    """(K, H, W): per pixel, the sum of values (K, rows * cols) over the window places covering it;
    windows cut off at the edge count only inside."""
    (ph, pw), (sh, sw) = patch, stride
    size = ((rows - 1) * sh + ph, (cols - 1) * sw + pw)  # the last windows may stick out of the map
    columns = values[:, None, :].expand(-1, ph * pw, -1)  # (K, ph * pw, places)
    return F.fold(columns, size, patch, stride=stride)[:, 0, :side[0], :side[1]]


class Occlusion:
    """captum.attr.Occlusion's interface; `attribute` returns what Captum's returns."""

    def __init__(self, forward_func):
        self.forward_func = forward_func

    def attribute(self, inputs, sliding_window_shapes, strides=None, baselines=None, target=None,
                  additional_forward_args=None, perturbations_per_eval: int = 1, show_progress: bool = False,
                  drill_down: float | None = None):
        """Mean over the windows covering each input value of (output - occluded output) of the target.
        `drill_down=R` (nnscope only, engine path only): exact outputs at a coarse grid of window
        places and at the top R share of places by the change of the target, interpolated elsewhere
        (nnscope.vision.occlusion.drill_down); `self.computed` (N, rows, cols) then marks the
        window places computed exactly (None without drill-down)."""
        self.computed = None
        is_tuple = isinstance(inputs, tuple)
        formatted = inputs if is_tuple else (inputs,)
        check(all(isinstance(x, torch.Tensor) for x in formatted), "inputs: expected a tensor or a tuple of tensors")
        windows, strides_, counts = format_geometry(formatted, sliding_window_shapes, strides)
        check_finite(baselines)
        takes = self._engine_takes(formatted, windows, baselines, target, additional_forward_args)
        check(drill_down is None or takes, "drill_down: works on the engine's path only (an nn.Module, one 4-D "
              "image tensor, windows over all channels, no additional_forward_args)")
        if takes:
            result = self._incremental(formatted[0], windows[0], strides_[0], counts[0], baselines, target,
                                       perturbations_per_eval, show_progress, drill_down)
            return (result,) if is_tuple else result
        result = plain_occlusion(self.forward_func, formatted, sliding_window_shapes, strides, baselines, target,
                                 additional_forward_args, perturbations_per_eval, show_progress)
        return result if is_tuple else result[0]

    def attribute_future(self):
        """Not implemented, as in Captum."""
        raise NotImplementedError("attribute_future is not implemented for Occlusion")

    def _engine_takes(self, inputs, windows, baselines, target, extra) -> bool:
        if isinstance(baselines, tuple):
            baselines = baselines[0] if len(baselines) == 1 else None
        x = inputs[0]
        return (isinstance(self.forward_func, nn.Module) and len(inputs) == 1 and extra is None
                and x.dim() == 4 and x.is_floating_point() and windows[0][0] == x.shape[1]
                and (baselines is None or isinstance(baselines, (int, float, torch.Tensor)))
                and not isinstance(target, tuple)
                and not (isinstance(target, list) and target and not isinstance(target[0], int)))

    def _incremental(self, x, window, stride, counts, baselines, target, per_eval, show_progress, drill_down=None):
        if isinstance(baselines, tuple):
            baselines = baselines[0]
        check(isinstance(per_eval, int) and per_eval >= 1, f"perturbations_per_eval: {per_eval}; expected an int >= 1")
        stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        patch, steps = tuple(window[1:]), stride[1:]
        fill = torch.broadcast_to(torch.as_tensor(0.0 if baselines is None else baselines, dtype=x.dtype,
                                                  device=x.device), x.shape)  # broadcast as Captum does
        places = counts[1] * counts[2]
        with torch.no_grad():  # a bad target fails now, not after the whole map
            probe = self.forward_func(x[:1].clone())
            if isinstance(probe, torch.Tensor) and probe.dim() >= 1 and len(probe) == 1:
                select_targets(probe.expand(len(x), *probe.shape[1:]), target)
        progress = Progress(-(-places // per_eval) + 1, show_progress)
        progress.update()
        shown = [0]

        def tick(done: int, total: int) -> None:  # engine items -> Captum's forward count
            due = min(progress.total - 1, -(-done * places // total) // per_eval) - shown[0]
            if due > 0:
                progress.update(due)
                shown[0] += due
        if drill_down is None:
            result = traced_occlusion(self.forward_func, x.detach(), patch, steps, fill,
                                      batch=max(256, per_eval * len(x)), progress=tick)
        else:
            result = drill_down_occlusion(self.forward_func, x.detach(), patch, steps, drill_down, fill,
                                          _per_image_classes(target, len(x)), batch=max(256, per_eval * len(x)))
            self.computed = result.computed
        if shown[0] < progress.total - 1:
            progress.update(progress.total - 1 - shown[0])
        with torch.no_grad():
            initial = select_targets(result.unoccluded, target)
            N = len(x)
            outputs = result.outputs.reshape(N, places, *result.outputs.shape[3:]).transpose(0, 1)
            occluded = select_targets(outputs.reshape(places * N, *outputs.shape[2:]), expand_target(target, places))
            diff = initial.reshape(1, -1) - occluded.reshape(places, -1)  # (places, n_out)
            side = tuple(x.shape[2:])
            totals = _window_sums(diff.T.contiguous(), counts[1], counts[2], patch, steps, side)  # (n_out, H, W)
            ones = torch.ones(1, places, dtype=torch.float32, device=x.device)
            weights = _window_sums(ones, counts[1], counts[2], patch, steps, side)  # (1, H, W)
            attribution = totals.float() / weights
        return attribution[:, None].expand(-1, x.shape[1], -1, -1).contiguous()
