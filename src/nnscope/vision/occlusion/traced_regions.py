"""Which ops of a traced model incremental occlusion can follow, and where a patch's change travels.

Along each axis of a feature map a change is a half-open span [lo, hi) of rows (or columns), one
per patch position ((P,) arrays). A sliding op (conv of any kernel, stride, padding, dilation and
groups; max or average pooling) turns it into the outputs whose receptive field reads a changed
row; elementwise ops keep it; a sum, product or concatenation of several maps takes the bounding
span of their changes. Every other op is opaque: from there on the engine runs full passes.
"""

import inspect
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from nnscope.vision.occlusion import winograd

ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid,
    nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.PReLU, nn.Identity,
)
ELEMENTWISE_FUNCTIONS = {
    torch.relu, F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.gelu, F.silu, F.mish, F.hardswish,
    F.hardsigmoid, F.hardtanh, F.softplus, torch.sigmoid, torch.tanh, F.sigmoid, F.tanh, torch.clamp,
    torch.abs, torch.exp, operator.neg, torch.neg, torch.relu_,
}
ELEMENTWISE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "clamp", "abs", "exp", "neg", "contiguous", "float"}
BINARY_FUNCTIONS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.isub,
    operator.imul, operator.itruediv, torch.add, torch.sub, torch.mul, torch.div,
}
BINARY_METHODS = {"add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_"}
# `out += x` in a traced graph: the engine reads its stored inputs again, so it runs the out-of-place op
OUT_OF_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                operator.itruediv: operator.truediv, torch.relu_: torch.relu}


@dataclass(frozen=True)
class Sliding:
    """A window op along rows and columns; `run` applies it with no padding to a slab already padded."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int]  # padding before the first row / column, in input pixels
    fill: float  # value of the padding: 0 for convs and average pools, -inf for max pools
    run: Callable[[torch.Tensor], torch.Tensor]  # (B, C, h, w) slab -> (B, C', h', w')


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _conv(m: nn.Conv2d) -> Sliding | None:
    if m.padding_mode != "zeros":
        return None
    kernel, dilation = _pair(m.kernel_size), _pair(m.dilation)
    if m.padding == "same":  # torch puts the odd pixel of the padding after the map
        pad = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    else:
        pad = (0, 0) if m.padding == "valid" else _pair(m.padding)
    weight, bias = m.weight, m.bias
    if winograd.faster(m):  # the same sums in another order: fewer multiplies on many channels
        return Sliding(kernel, _pair(m.stride), dilation, pad, 0.0, winograd.valid_conv(m))
    return Sliding(kernel, _pair(m.stride), dilation, pad, 0.0,
                   lambda slab: F.conv2d(slab, weight, bias, m.stride, 0, m.dilation, m.groups))


def _max_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if return_indices:
        return None
    kernel, stride = _pair(kernel_size), _pair(stride if stride not in (None, []) else kernel_size)
    dilation = _pair(dilation)
    # ceil_mode only adds a last window that reads padding, which -inf padding makes harmless
    return Sliding(kernel, stride, dilation, _pair(padding), float("-inf"),
                   lambda slab: F.max_pool2d(slab, kernel, stride, 0, dilation))


def _avg_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    kernel, stride, pad = _pair(kernel_size), _pair(stride if stride not in (None, []) else kernel_size), _pair(padding)
    if ceil_mode or (not count_include_pad and any(pad)):  # divisors that change at the border
        return None
    return Sliding(kernel, stride, (1, 1), pad, 0.0,
                   lambda slab: F.avg_pool2d(slab, kernel, stride, 0, False, True, divisor_override))


def sliding_op(node: fx.Node, modules: dict) -> Sliding | None:
    """The node as a sliding op over rows and columns, or None if it is not one."""
    if node.op == "call_module":
        m = modules[node.target]
        if type(m) is nn.Conv2d:
            return _conv(m)
        if type(m) is nn.MaxPool2d:
            return _max_pool(None, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices)
        if type(m) is nn.AvgPool2d:
            return _avg_pool(None, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                             m.divisor_override)
        return None
    if node.op == "call_function" and node.target in (F.max_pool2d, torch.max_pool2d, F.avg_pool2d):
        build = _max_pool if node.target is not F.avg_pool2d else _avg_pool
        try:
            bound = inspect.signature(build).bind(*node.args, **node.kwargs)
        except TypeError:
            return None
        if any(isinstance(v, fx.Node) for k, v in bound.arguments.items() if k != "input"):
            return None
        return build(*bound.args, **bound.kwargs)
    return None


def op_kind(node: fx.Node, modules: dict) -> str:
    """'sliding', 'elementwise', 'binary', 'concat' or 'opaque' (full passes from here on)."""
    if sliding_op(node, modules) is not None:
        return "sliding"
    if node.op == "call_module":
        m = modules[node.target]
        if type(m) in ELEMENTWISE_MODULES or (type(m) in (nn.Dropout, nn.Dropout2d) and not m.training):
            return "elementwise"
        if type(m) is nn.BatchNorm2d and not m.training and m.track_running_stats:  # per-channel affine
            return "elementwise"
        return "opaque"
    if node.op == "call_function" and node.target is torch.cat:
        return "concat" if node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) in (1, -3) else "opaque"
    functions = node.op == "call_function"
    target = node.target  # a method written in place (`y.clamp_(0, 1)`) runs as its out-of-place self
    if not functions and target.endswith("_") and not target.endswith("__"):
        target = target[:-1]
    if target in (ELEMENTWISE_FUNCTIONS if functions else ELEMENTWISE_METHODS):
        return "elementwise"
    if target in (BINARY_FUNCTIONS if functions else BINARY_METHODS):
        return "binary"
    return "opaque"


IN_PLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
                      operator.ipow, operator.imod, operator.iand, operator.ior, operator.ixor, operator.setitem}


def in_place(node: fx.Node, modules: dict) -> bool:
    """Whether the op writes into its first argument (which the engine must then copy first)."""
    if node.op == "call_module":
        return getattr(modules[node.target], "inplace", False) is True
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.endswith("__")
    if node.op != "call_function":
        return False
    name = getattr(node.target, "__name__", "")
    torch_own = getattr(node.target, "__module__", "") in ("torch", "torch.nn.functional")
    return (node.target in IN_PLACE_FUNCTIONS or node.kwargs.get("inplace") is True
            or (torch_own and name.endswith("_") and not name.endswith("__")))


def sliding_span(lo: np.ndarray, hi: np.ndarray, side_out: int, kernel: int, stride: int, dilation: int,
                 pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs [lo', hi') of a sliding op whose window reads an input row in [lo, hi); empty stays empty."""
    reach = dilation * (kernel - 1)  # output o reads rows o * stride - pad + [0, reach]
    out_lo = np.clip(-((reach - pad - lo) // stride), 0, side_out)  # ceil((lo + pad - reach) / stride)
    out_hi = np.clip((hi - 1 + pad) // stride + 1, out_lo, side_out)
    return out_lo, np.where(hi > lo, out_hi, out_lo)


def bounding_span(spans: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The smallest span holding every non-empty span of the list, per position."""
    big = np.iinfo(np.int64).max
    lo = np.min([np.where(h > l, l, big) for l, h in spans], axis=0)
    hi = np.max([np.where(h > l, h, -1) for l, h in spans], axis=0)
    return np.where(hi > lo, lo, 0), np.where(hi > lo, hi, 0)


def window_starts(lo: np.ndarray, size: int, side: int) -> np.ndarray:
    """Starts of one-size windows covering spans beginning at `lo`, moved inside [0, side)."""
    return np.clip(lo, 0, side - size)


@dataclass
class Window:
    """Where a node's recomputed values sit for each patch position: one size, per-position starts."""

    size: tuple[int, int]  # (h, w) of every position's window
    starts: tuple[np.ndarray, np.ndarray]  # (P,) first row and first column
    spans: tuple  # ((lo, hi), (lo, hi)) rows and columns that really change, (P,) each
    side: tuple[int, int]  # (H, W) of the node's map


def _broadcasts_per_channel(value) -> bool:
    """A constant operand that is the same at every pixel (a number, or a tensor of shape (..., 1, 1))."""
    if not isinstance(value, torch.Tensor):
        return isinstance(value, (int, float, bool))
    return value.numel() == 1 or (value.dim() >= 3 and value.shape[-1] == 1 and value.shape[-2] == 1)


def _window(spans, side) -> Window:
    """The one window size that holds every position's changed spans, placed at each position's span."""
    size = tuple(min(d, max(1, int((hi - lo).max(initial=0)))) for (lo, hi), d in zip(spans, side))
    starts = tuple(window_starts(lo, s, d) for (lo, _), s, d in zip(spans, size, side))
    return Window(size, starts, spans, side)


def track_windows(traced: fx.GraphModule, stored: dict, rows: np.ndarray, cols: np.ndarray,
                  patch: tuple[int, int]) -> dict:
    """Per node: None (does not depend on the image), a Window holding every position's changed
    span, or 'full' where the change cannot be followed (an opaque op, or reads one)."""
    modules, plan = dict(traced.named_modules()), {}
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            H, W = stored[node].shape[-2:]
            plan[node] = _window(((rows, np.minimum(rows + patch[0], H)), (cols, np.minimum(cols + patch[1], W))), (H, W))
            continue
        deps = [a for a in node.all_input_nodes if plan.get(a) is not None]
        if node.op == "get_attr" or not deps:
            plan[node] = None
            continue
        out, kind = stored[node], op_kind(node, modules)
        if (node.op == "output" or kind == "opaque" or any(plan[a] == "full" for a in deps)
                or not isinstance(out, torch.Tensor) or out.dim() != 4):
            plan[node] = "full"
            continue
        side = tuple(out.shape[-2:])
        consts = [a for a in node.all_input_nodes if plan.get(a) is None]
        if kind == "sliding":
            op = sliding_op(node, modules)
            w = plan[deps[0]]
            spans = tuple(sliding_span(lo, hi, s, op.kernel[i], op.stride[i], op.dilation[i], op.pad[i])
                          for i, ((lo, hi), s) in enumerate(zip(w.spans, side)))
        else:
            same_side = all(tuple(stored[a].shape[-2:]) == side for a in deps)
            if not same_side or not all(_broadcasts_per_channel(stored[a]) for a in consts) or \
                    (kind == "elementwise" and len(deps) != 1):
                plan[node] = "full"
                continue
            spans = tuple(bounding_span([plan[a].spans[i] for a in deps]) for i in range(2))
        plan[node] = _window(spans, side)
    return plan


def plan_windows(traced: fx.GraphModule, stored: dict, rows: np.ndarray, cols: np.ndarray,
                 patch: tuple[int, int]) -> dict:
    """Per node: None (does not depend on the image), a Window, or 'full' (full batched passes from
    the node on: where the change cannot be followed, and from wherever the cost model of
    nnscope.vision.occlusion.traced_cost finds full passes cheaper than windows)."""
    from nnscope.vision.occlusion.traced_cost import switch_to_full  # it reads this module's ops

    return switch_to_full(traced, stored, track_windows(traced, stored, rows, cols, patch))
