"""What the engine's plan costs, where it switches to full passes, and how it groups positions.

Costs are counted in conv multiply-adds (MACs). A windowed conv computes its window and gathers
the slab of its input that the window reads; a full conv computes the whole map; a windowed node
read by a full node is first written into a whole copy of its stored map (COPY per value). One gathered value costs
about GATHER multiply-adds and one value of an elementwise op about ELEMENT (measured at one thread
on the development machine, AMD EPYC: gather 2.2-2.5 ns per value, 3 x 3 conv 21-24 ps per MAC,
ReLU 0.26-0.31 ns per value). `switch_to_full` picks the node from which full passes are cheapest
overall (the issue's "window covers most of the map" falls out of it: the switch moves later as
convs get wider, since the gather costs less against their MACs).

Border positions change smaller spans than interior ones (the patch is cut at the edge, and so is
the change in every map), and after each stride-2 layer a patch aligned with the stride changes
fewer rows than one that is not, yet one window size serves all positions of a plan.
`position_groups` sorts the rows and the columns of positions into a few classes each by their
span sizes, so that a group of positions gets its own, smaller, windows and its own switch to
full passes.
"""

import numpy as np
import torch
from torch import fx, nn

from nnscope.vision.occlusion import traced_regions as rt
from nnscope.vision.occlusion import winograd

GATHER = 100.0  # one value gathered into a window, in MACs
ELEMENT = 12.0  # one value through an elementwise op, in MACs
COPY = 12.0  # one value of a whole stored map copied for a full pass (a plain copy, not a gather)
MAX_BANDS = 3  # classes per axis; a class must save SPLIT_GAIN of the axis's cost to be worth its batches
SPLIT_GAIN = 0.02


def _conv_macs(node: fx.Node, modules: dict) -> float:
    """Multiply-adds per output pixel of a Conv2d node; 0 for anything else."""
    m = modules.get(node.target) if node.op == "call_module" else None
    if type(m) is not nn.Conv2d:
        return 0.0
    return m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] * m.out_channels


def _costs(node: fx.Node, modules: dict, stored: dict, window: rt.Window) -> tuple[float, float, float]:
    """(windowed, full, materialise) cost of one node for one position."""
    out = stored[node]
    channels, (H, W), (h, w) = out.shape[1], window.side, window.size
    materialise = COPY * channels * H * W
    if node.op == "placeholder":
        return ELEMENT * channels * h * w, ELEMENT * channels * H * W, materialise
    kind = rt.op_kind(node, modules)
    if kind == "sliding":
        op = rt.sliding_op(node, modules)
        source = stored[[a for a in node.all_input_nodes if isinstance(stored.get(a), torch.Tensor)][0]]
        slab = [(n - 1) * op.stride[i] + op.dilation[i] * (op.kernel[i] - 1) + 1 for i, n in enumerate((h, w))]
        per_pixel = _conv_macs(node, modules) or ELEMENT * channels * op.kernel[0] * op.kernel[1]
        return per_pixel * h * w + GATHER * source.shape[1] * slab[0] * slab[1], per_pixel * H * W, materialise
    operands = len(node.all_input_nodes)
    return (ELEMENT + GATHER * (operands > 1)) * channels * h * w * operands, ELEMENT * channels * H * W, materialise


def switch_to_full(traced: fx.GraphModule, stored: dict, tracked: dict) -> dict:
    """The tracked plan with every windowed node from the cheapest switch point on set to 'full'."""
    modules = dict(traced.named_modules())
    nodes = list(traced.graph.nodes)
    windowed = [i for i, n in enumerate(nodes) if isinstance(tracked.get(n), rt.Window)]
    costs = {i: _costs(nodes[i], modules, stored, tracked[nodes[i]]) for i in windowed}
    index = {n: i for i, n in enumerate(nodes)}
    best, best_cost = len(nodes), None
    for s in range(1, len(nodes) + 1):  # full from node s on; the input itself always windowed
        full = {i for i in windowed if i >= s}
        total = sum(costs[i][0] for i in windowed if i < s) + sum(costs[i][1] for i in full)
        for i in windowed:  # windowed nodes read by a full node are materialised once
            if i < s and any(index[u] in full or tracked.get(u) == "full" for u in nodes[i].users):
                total += costs[i][2]
        if best_cost is None or total < best_cost:
            best, best_cost = s, total
    return {n: ("full" if isinstance(w, rt.Window) and index[n] >= best else w) for n, w in tracked.items()}


def plan_macs(traced: fx.GraphModule, stored: dict, plan: dict) -> tuple[float, float, float]:
    """(conv MACs the plan computes, conv MACs of a full pass, multiplies as the engine runs them),
    summed over the plan's positions. A Winograd conv (`winograd.faster`) multiplies 16 times per
    channel pair for each 2 x 2 tile of its window or map (edges rounded up to whole tiles), any
    other conv once per multiply-add."""
    modules = dict(traced.named_modules())
    positions = len(next(w for w in plan.values() if isinstance(w, rt.Window)).starts[0])
    done = total = multiplies = 0.0
    for node, window in plan.items():
        per_pixel = _conv_macs(node, modules)
        if not per_pixel:
            continue
        total += per_pixel * stored[node].shape[-2] * stored[node].shape[-1] * positions
        h, w = window.size if isinstance(window, rt.Window) else stored[node].shape[-2:]
        done += per_pixel * h * w * positions
        conv = modules[node.target]
        if winograd.faster(conv):
            multiplies += 16 * conv.in_channels * conv.out_channels * -(-h // 2) * -(-w // 2) * positions
        else:
            multiplies += per_pixel * h * w * positions
    return done, total, multiplies


def ideal_macs(traced: fx.GraphModule, stored: dict, tracked: dict) -> float:
    """Conv MACs an ideal incremental method computes over all positions: each position exactly its
    own changed spans (no window shared with other positions), full maps where the change cannot be followed."""
    modules = dict(traced.named_modules())
    done = 0.0
    for node, window in tracked.items():
        per_pixel = _conv_macs(node, modules)
        if not per_pixel:
            continue
        if isinstance(window, rt.Window):
            (rlo, rhi), (clo, chi) = window.spans
            done += per_pixel * float(((rhi - rlo) * (chi - clo)).sum())
        else:
            done += per_pixel * stored[node].shape[-2] * stored[node].shape[-1] * len(tracked_positions(tracked))
    return done


def tracked_positions(tracked: dict) -> np.ndarray:
    return next(w for w in tracked.values() if isinstance(w, rt.Window)).starts[0]


def _bands(sizes: np.ndarray, weights: np.ndarray, sides: np.ndarray) -> list[np.ndarray]:
    """Classes of the m rows (or columns) of positions, sizes (m, nodes) their span sizes: rows
    with the same span sizes at every node form one class, and the two classes whose merge costs
    least are merged until at most MAX_BANDS remain (and further while a merge costs less than
    SPLIT_GAIN of the axis's cost); each class pays per node weight x (its largest span, or the
    whole side where that is less). Classes need not be contiguous: after a stride-2 layer the
    span size alternates between neighbouring rows of positions (a patch aligned with the stride
    or not), which contiguous bands cannot separate."""
    clipped = np.minimum(sizes, sides)

    def cost(rows: np.ndarray) -> float:
        return len(rows) * float((weights * clipped[rows].max(0)).sum())

    same: dict = {}
    for i, row in enumerate(map(tuple, clipped)):
        same.setdefault(row, []).append(i)
    classes = [np.array(rows) for rows in same.values()]
    costs = [cost(c) for c in classes]
    while len(classes) > 1:
        extra, a, b = min((cost(np.concatenate([classes[a], classes[b]])) - costs[a] - costs[b], a, b)
                          for a in range(len(classes)) for b in range(a + 1, len(classes)))
        if len(classes) <= MAX_BANDS and extra >= SPLIT_GAIN * sum(costs):
            break
        merged = np.sort(np.concatenate([classes[a], classes[b]]))
        classes = [c for i, c in enumerate(classes) if i not in (a, b)] + [merged]
        costs = [c for i, c in enumerate(costs) if i not in (a, b)] + [cost(merged)]
    return sorted(classes, key=lambda c: c[0])


def position_groups(traced: fx.GraphModule, stored: dict, tracked: dict, rows: int, cols: int) -> list[np.ndarray]:
    """Position numbers (p = i * cols + j) of each group: row classes x column classes, from the span
    sizes of the tracked plan of all rows x cols positions."""
    modules = dict(traced.named_modules())
    axes = [[], []]  # per axis: (span sizes per row or column (m,), weight, side) of each conv node
    for node, window in tracked.items():
        per_pixel = _conv_macs(node, modules)
        if not per_pixel or not isinstance(window, rt.Window):
            continue
        source = [a for a in node.all_input_nodes if isinstance(stored.get(a), torch.Tensor)][0]
        gather = GATHER * stored[source].shape[1] / per_pixel  # the window's gather, relative to its MACs
        grid = [(hi - lo).reshape(rows, cols) for lo, hi in window.spans]
        per_axis = (grid[0][:, 0], grid[1][0, :])  # row spans depend on the row only, column spans on the column
        for axis in range(2):
            other = window.size[1 - axis]
            axes[axis].append((per_axis[axis] * (1 + gather), per_pixel * other, window.side[axis]))
    if not axes[0]:
        return [np.arange(rows * cols)]
    bands = []
    for axis, count in enumerate((rows, cols)):
        sizes = np.stack([a[0] for a in axes[axis]], 1)  # (count, nodes)
        bands.append(_bands(sizes, np.array([a[1] for a in axes[axis]]), np.array([a[2] for a in axes[axis]])))
    return [(r[:, None] * cols + c[None, :]).reshape(-1) for r in bands[0] for c in bands[1]]
