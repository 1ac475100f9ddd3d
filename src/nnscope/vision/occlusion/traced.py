"""Exact incremental occlusion for any PyTorch image classifier, traced with torch.fx.

The model (float (N, C, H, W) -> outputs (N, ...), usually logits (N, K)) is traced once. The
unoccluded images run through it once, keeping every node's output. For every patch position the
planner (nnscope.vision.occlusion.traced_regions) follows the changed span of rows and columns from node to
node and gives each trackable node one window size and per-position starts. A batch of
image-position items then runs node by node: a trackable node recomputes only its window, from the
stored unoccluded input with the fresh input window pasted in (nnscope.vision.occlusion.traced_windows); from
the first node it cannot track, or whose window is the whole map, it runs as a full batched pass
on the perturbed items. Outputs equal a one-position-per-pass loop up to float rounding.
If tracing fails (data-dependent control flow), every position runs as a full batched pass, and
`method` says so.
"""

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import fx, nn
from torch.fx.experimental.optimization import fuse

from nnscope.errors import NnscopeError
from nnscope.vision.occlusion import traced_regions as rt
from nnscope.vision.occlusion import winograd
from nnscope.vision.occlusion.traced_inplace import functionalize
from nnscope.vision.occlusion.traced_tail import compile_tail
from nnscope.vision.occlusion.traced_cost import position_groups, switch_to_full
from nnscope.vision.occlusion.traced_regions import Window, track_windows
from nnscope.vision.occlusion.traced_windows import channels_last, full_maps, gather, span_mask


@dataclass
class TracedOcclusion:
    """Model outputs with the patch at every position, and how they were computed."""

    outputs: torch.Tensor  # (N, rows, cols, *output shape): e.g. logits (N, rows, cols, K)
    unoccluded: torch.Tensor  # (N, *output shape)
    row_starts: list[int]  # first row of the patch at each map row
    col_starts: list[int]
    method: str  # "incremental" (traced) or "batched" (tracing failed or unsupported graph)
    note: str  # why batched, or which node the full passes start at
    windows: dict = field(default_factory=dict)  # node name -> (h, w) window, or "full"
    computed: np.ndarray | None = None  # (rows, cols) bools: positions computed (None: all); the rest are NaN

    def probabilities(self) -> torch.Tensor:
        """Softmax over the last axis: (N, rows, cols, K)."""
        return torch.softmax(self.outputs, dim=-1)


def patch_starts(side: int, patch: int, stride: int) -> list[int]:
    """Captum's positions: from 0 every `stride` until the map is covered; the last patch may stick out."""
    return [i * stride for i in range(-(-(side - patch) // stride) + 1)]


_PLAIN = (int, float, bool, str, tuple, type(None))
_HOOKS = ("_forward_hooks", "_forward_pre_hooks")


def _structure(model: nn.Module) -> tuple:
    """What a trace bakes in besides the weights: each module's class, forward and plain attributes
    (strides, slopes, flags, numbers the forward reads) and hooks."""
    if isinstance(model, torch.jit.ScriptModule):  # never traced (torch.fx cannot follow it): full passes
        return (("torchscript", type(model)),)
    parts = []
    for name, m in model.named_modules():
        plain = tuple(sorted((k, repr(v)) for k, v in vars(m).items() if isinstance(v, _PLAIN) and not k.startswith("_")))
        hooks = tuple(tuple(getattr(m, h, {}).keys()) for h in _HOOKS)
        parts.append((name, type(m), vars(m).get("forward", type(m).forward), plain, hooks))
    return tuple(parts)


def model_key(model: nn.Module) -> tuple:
    """Changes when the model object, its mode, its structure (a module swapped for another, an
    attribute set) or any weight or buffer changes (in-place updates bump _version)."""
    tensors = tuple((t.data_ptr(), t._version, t.dtype, str(t.device)) for t in (*model.parameters(), *model.buffers()))
    return id(model), model.training, _structure(model), tensors


_TRACED: dict = {}  # model_key -> (traced copy, note): tracing, copying and folding take a second on a ResNet


def _trace(model: nn.Module) -> tuple[fx.GraphModule | None, str]:
    """A traced copy of the model with each eval batch norm folded into the conv before it (an
    exact rewrite up to float rounding, as a deployed model would run) and every op out of place;
    cached while the model and its weights stay the same."""
    key = model_key(model)
    if key not in _TRACED:
        if len(_TRACED) > 8:  # a few models at a time, not a leak
            _TRACED.clear()
        _TRACED[key] = _trace_copy(model)
    return _TRACED[key]


def _trace_copy(model: nn.Module) -> tuple[fx.GraphModule | None, str]:
    try:
        traced = fuse(model) if not model.training else fx.symbolic_trace(copy.deepcopy(model))
    except Exception as e:  # any tracing failure means: run full passes instead
        return None, f"torch.fx could not trace the model ({type(e).__name__}: {str(e).splitlines()[0][:100]})"
    why = functionalize(traced)
    if why:
        return None, why
    for module in traced.modules():
        if getattr(module, "inplace", False) is True:  # the engine reads stored inputs again
            module.inplace = False
    placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        return None, f"the traced model takes {len(placeholders)} inputs, expected one image batch"
    return traced, ""


def _call(node: fx.Node, modules: dict, args, kwargs):
    if node.op == "call_module":
        return modules[node.target](*args, **kwargs)
    if node.op == "call_function":
        return rt.OUT_OF_PLACE.get(node.target, node.target)(*args, **kwargs)
    self, *rest = args
    return getattr(self, node.target)(*rest, **kwargs)


def _run_node(node: fx.Node, modules: dict, traced: fx.GraphModule, value: Callable):
    """The node's output with each argument node replaced by value(arg); copies what an op overwrites."""
    if node.op == "get_attr":
        target = traced
        for part in node.target.split("."):
            target = getattr(target, part)
        return target
    args = fx.node.map_arg(node.args, value)
    kwargs = fx.node.map_arg(node.kwargs, value)
    if rt.in_place(node, modules) and args and isinstance(args[0], torch.Tensor):
        args = (args[0].clone(),) + tuple(args[1:])  # the stored input must stay as it was
    return _call(node, modules, args, kwargs)


def _stored_pass(traced: fx.GraphModule, images: torch.Tensor) -> dict:
    """Every node's output for the unoccluded images."""
    modules, stored = dict(traced.named_modules()), {}
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            stored[node] = images
        elif node.op == "output":
            stored[node] = stored[node.args[0]] if isinstance(node.args[0], fx.Node) else None
        else:
            stored[node] = _run_node(node, modules, traced, stored.__getitem__)
    return stored


class _Batch:
    """One batch of image-position items run node by node: windows where planned, full maps elsewhere."""

    def __init__(self, traced, plan, stored, padded, positions: np.ndarray, images: int, baseline):
        self.traced, self.plan, self.stored, self.padded = traced, plan, stored, padded
        self.modules = dict(traced.named_modules())
        self.positions, self.baseline = positions, baseline
        device = stored[next(iter(traced.graph.nodes))].device
        self.device = device
        self.image = torch.arange(images, device=device).repeat(len(positions))  # item b = j * images + n
        self.images = images
        self.values, self.full = {}, {}

    def _per_item(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.repeat(a[self.positions], self.images), device=self.device)

    def _starts(self, window: Window) -> tuple[torch.Tensor, torch.Tensor]:
        return self._per_item(window.starts[0]), self._per_item(window.starts[1])

    def _maps(self, node, pad=(0, 0, 0, 0), fill=0.0) -> torch.Tensor:
        key = (node, pad, fill)
        if key not in self.padded:  # shared by the batches of one group of images
            self.padded[key] = channels_last(self.stored[node], pad, fill)
        return self.padded[key]

    def _window_of(self, node, window: Window) -> torch.Tensor:
        """The node's values on `window` (B, C, h, w): its own window, or the stored map with it pasted in."""
        tensor, rows, cols = self.values[node]
        own = self.plan[node]
        if own.size == window.size and all(np.array_equal(a, b) for a, b in zip(own.starts, window.starts)):
            return tensor
        r, c = self._starts(window)
        return gather(self._maps(node), 0, 0, self.image, r, c, window.size, tensor, rows, cols)

    def _full_value(self, node):
        if self.plan.get(node) is None:
            return self.stored[node]
        if node in self.full:
            return self.full[node]
        tensor, rows, cols = self.values[node]
        self.full[node] = full_maps(self._maps(node), self.image, tensor, rows, cols)
        return self.full[node]

    def _input(self, node, window) -> torch.Tensor:
        """The perturbed images on the window (the whole image if 'full'): baseline inside the patch."""
        r, c = self._starts(window)
        image = gather(self._maps(node), 0, 0, self.image, r, c, window.size)
        fill = gather(self.baseline, 0, 0, self.image, r, c, window.size)
        (rlo, rhi), (clo, chi) = [(self._per_item(lo), self._per_item(hi)) for lo, hi in window.spans]
        inside = span_mask(r, window.size[0], rlo, rhi)[:, None, :, None] & \
            span_mask(c, window.size[1], clo, chi)[:, None, None, :]
        return torch.where(inside, fill, image)

    def _sliding(self, node, window: Window) -> torch.Tensor:
        op = rt.sliding_op(node, self.modules)
        (dep,) = [a for a in node.all_input_nodes if self.plan.get(a) is not None]
        tensor, rows, cols = self.values[dep]
        in_side = self.stored[dep].shape[-2:]
        slab, pads = [], []
        for i in range(2):  # rows, then columns
            reach = op.dilation[i] * (op.kernel[i] - 1)
            last = (window.side[i] - 1) * op.stride[i] - op.pad[i] + reach + 1  # end of the last window read
            pads += [op.pad[i], max(0, last - in_side[i])]
            slab.append((window.size[i] - 1) * op.stride[i] + reach + 1)
        r, c = self._starts(window)
        source = self._maps(dep, tuple(pads), op.fill)
        x = gather(source, pads[0], pads[2], self.image, r * op.stride[0] - op.pad[0], c * op.stride[1] - op.pad[1],
                   tuple(slab), tensor, rows, cols)
        return op.run(x)

    def run(self, tail=None) -> torch.Tensor:
        """The model's outputs for the batch's items (B, ...); `tail`: compile_tail's (module,
        boundary nodes), which then computes every node planned 'full'."""
        nodes = list(self.traced.graph.nodes)
        last_use = {}  # node -> index of the last node reading it, to free its values there
        for i, node in enumerate(nodes):
            for a in node.all_input_nodes:
                last_use[a] = i
        for node in tail[1] if tail is not None else ():
            last_use[node] = len(nodes)  # read by the tail at the end
        for i, node in enumerate(nodes):
            window = self.plan.get(node)
            if window is None or (tail is not None and window == "full" and node.op != "placeholder"):
                continue
            if node.op == "output":
                return self._full_value(node.args[0])
            if node.op == "placeholder":
                value = self._input(node, window)
            elif window == "full":
                value = _run_node(node, self.modules, self.traced, self._full_value)
            elif rt.op_kind(node, self.modules) == "sliding":
                value = self._sliding(node, window)
            else:
                deps = {a: self._window_of(a, window) for a in node.all_input_nodes if self.plan.get(a) is not None}
                value = _run_node(node, self.modules, self.traced, lambda a: deps[a] if a in deps else self.stored[a])
            if window == "full":
                self.full[node] = value
            else:
                assert value.shape[-2:] == window.size, (node.name, value.shape, window.size)
                self.values[node] = (value,) + self._starts(window)
            for a in node.all_input_nodes:
                if last_use[a] == i:
                    self.values.pop(a, None)
                    self.full.pop(a, None)
        module, boundary = tail
        return module(*[self._full_value(node).contiguous(memory_format=torch.channels_last) for node in boundary])


def plan_groups(traced: fx.GraphModule, stored: dict, rows: int, cols: int, grid: np.ndarray,
                patch: tuple[int, int], banded: bool = True,
                chosen: np.ndarray | None = None) -> list[tuple[np.ndarray, dict]]:
    """(position numbers, plan) per group of positions: row bands x column bands of the grid
    (rows * cols positions, p = i * cols + j), each planned on its own (windows and switch to full
    passes); only the `chosen` positions where given."""
    tracked = track_windows(traced, stored, grid[:, 0], grid[:, 1], patch)
    groups = position_groups(traced, stored, tracked, rows, cols) if banded else [np.arange(len(grid))]
    if chosen is not None:
        groups = [g for g in (np.intersect1d(g, chosen) for g in groups) if len(g)]
    return [(members, switch_to_full(traced, stored, track_windows(traced, stored, grid[members, 0],
                                                                   grid[members, 1], patch)))
            for members in groups]


def _describe(plans: list) -> tuple[dict, str]:
    """The largest group's windows (node name -> (h, w) or 'full') and a note on every group's switch to full passes."""
    starts = []
    for _, plan in plans:
        firsts = [n.name for n, w in plan.items() if w == "full"]
        starts.append(f"'{firsts[0]}'" if firsts else "nowhere")
    members, plan = max(plans, key=lambda g: len(g[0]))
    windows = {n.name: (w if isinstance(w, str) else w.size) for n, w in plan.items() if w is not None}
    largest = starts[[len(m) for m, _ in plans].index(len(members))]
    note = f"full passes from node {largest}"
    if len(plans) > 1:
        note += f" in the largest of {len(plans)} position groups (the others from {', '.join(sorted(set(starts)))})"
    return windows, note


def _perturbed(images: torch.Tensor, baseline: torch.Tensor, image: torch.Tensor, rows, cols,
               patch: tuple[int, int]) -> torch.Tensor:
    """The items' images (B, C, H, W) with the baseline inside each item's patch (a plain batched pass)."""
    H, W = images.shape[-2:]
    inside = (span_mask(torch.zeros_like(rows), H, rows, rows + patch[0])[:, None, :, None]
              & span_mask(torch.zeros_like(cols), W, cols, cols + patch[1])[:, None, None, :])
    return torch.where(inside, baseline[image], images[image])


def traced_occlusion(model: nn.Module, images: torch.Tensor, patch: tuple[int, int], stride: tuple[int, int],
                     fill: float | torch.Tensor = 0.0, batch: int = 256,
                     progress: Callable[[int, int], None] | None = None, compiled: bool = True,
                     banded: bool = True, positions: np.ndarray | None = None) -> TracedOcclusion:
    """The model's outputs (N, rows, cols, ...) with a patch of `fill` (a number, a per-channel (C,)
    tensor or anything broadcasting to the images) at each of Captum's positions, exactly, recomputing
    only what the patch changes; `batch` image-position items per pass; progress(done, total);
    `compiled`: run the full-pass tail through TorchScript (False: node by node); `banded`: plan
    bands of positions apart (False: one plan for all, as before position groups); `positions`:
    a (rows, cols) boolean mask of the positions to compute (the others' outputs are NaN)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise NnscopeError(f"images: expected a float tensor (N, C, H, W), got {getattr(images, 'shape', type(images))}")
    N, C, H, W = images.shape
    (ph, pw), (sh, sw) = (int(v) for v in patch), (int(v) for v in stride)
    if not (1 <= ph <= H and 1 <= pw <= W and sh >= 1 and sw >= 1):
        raise NnscopeError(f"patch {ph}x{pw}, stride {sh}x{sw}: expected a patch inside the {H}x{W} image and strides >= 1")
    row_starts, col_starts = patch_starts(H, ph, sh), patch_starts(W, pw, sw)
    grid = np.array([(r, c) for r in row_starts for c in col_starts])  # position p = i * cols + j
    chosen = np.arange(len(grid))
    if positions is not None:
        positions = np.asarray(positions, dtype=bool)
        if positions.shape != (len(row_starts), len(col_starts)):
            raise NnscopeError(f"positions: a mask of shape {positions.shape}; expected "
                               f"({len(row_starts)}, {len(col_starts)}), one per patch position")
        chosen = np.flatnonzero(positions)
    baseline = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
    if not bool(torch.isfinite(baseline).all()):
        raise NnscopeError(f"fill: {fill if baseline.numel() == 1 else 'a tensor with NaN or infinite values'}; "
                           "expected finite numbers")
    if baseline.dim() == 1 and baseline.numel() == C:
        baseline = baseline.reshape(C, 1, 1)
    baseline = torch.broadcast_to(baseline, images.shape).contiguous()  # (N, C, H, W)
    traced, note = _trace(model)
    chunk = max(1, min(N, batch // 16))  # images per group, so a pass holds at least 16 positions
    per_pass = max(1, batch // chunk)
    total, done, outputs, unoccluded, windows = len(chosen) * N, 0, [], [], {}
    plans, tails = [], []  # per group of positions: (position numbers, plan), compiled tail
    with torch.no_grad():
        for start in range(0, N, chunk):
            group, fills = images[start:start + chunk], baseline[start:start + chunk]
            stored = None
            if traced is not None:
                try:
                    stored = _stored_pass(traced, group)
                except Exception as e:  # a graph that traces but does not run node by node
                    traced, note = None, f"the traced graph does not run ({type(e).__name__})"
            if stored is not None:
                if not plans:  # the plans depend on the maps' shapes only: made once
                    plans = plan_groups(traced, stored, len(row_starts), len(col_starts), grid, (ph, pw), banded,
                                        chosen)
                    for _, plan in plans:
                        tails.append(compile_tail(traced, plan, model_key(model)) if compiled else None)
                    windows, note = _describe(plans)
                    modules = dict(traced.named_modules())
                    fast = sum(n.op == "call_module" and winograd.faster(modules[n.target]) for n in traced.graph.nodes)
                    if fast:
                        note += f"; {fast} 3x3 convs as Winograd F(2x2, 3x3)"
                base, padded = stored[list(traced.graph.nodes)[-1]], {}
                fill_key = channels_last(fills)
            else:
                base = model(group.clone())  # a model may write into its input
            results = [None] * len(grid)
            work = [(m, p, t) for (m, p), t in zip(plans, tails)] if stored is not None else [(chosen, None, None)]
            for members, plan, tail in work:
                for first in range(0, len(members), per_pass):
                    local = np.arange(first, min(first + per_pass, len(members)))
                    numbers = members[local]
                    if stored is not None:
                        out = _Batch(traced, plan, stored, padded, local, len(group), fill_key).run(tail)
                    else:
                        image = torch.arange(len(group), device=images.device).repeat(len(numbers))
                        rc = torch.as_tensor(np.repeat(grid[numbers], len(group), axis=0), device=images.device)
                        out = model(_perturbed(group, fills, image, rc[:, 0], rc[:, 1], (ph, pw)))
                    for p, value in zip(numbers, out.reshape(len(numbers), len(group), *out.shape[1:])):
                        results[p] = value
                    done += len(numbers) * len(group)
                    if progress is not None:
                        progress(done, total)
            shape = next(r for r in results if r is not None).shape
            results = torch.stack([r if r is not None else torch.full(shape, float("nan"), device=images.device)
                                   for r in results])
            out = results.transpose(0, 1)  # (n, P, ...)
            outputs.append(out.reshape(len(group), len(row_starts), len(col_starts), *out.shape[2:]))
            unoccluded.append(base)
    return TracedOcclusion(torch.cat(outputs), torch.cat(unoccluded), row_starts, col_starts,
                           "incremental" if traced is not None else "batched", note, windows, positions)


def occlusion_probabilities_any(model: nn.Module, images: torch.Tensor, patch: tuple[int, int] = (8, 8),
                                stride: tuple[int, int] = (1, 1), fill: float | torch.Tensor = 0.0,
                                batch: int = 256, progress=None) -> torch.Tensor:
    """Softmax probabilities (N, rows, cols, K) of a logits model with the patch at each position."""
    return traced_occlusion(model, images, patch, stride, fill, batch, progress).probabilities()
