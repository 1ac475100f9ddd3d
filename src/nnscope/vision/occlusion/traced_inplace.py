"""In-place ops of a traced model, rewritten out of place where that is provably exact.

The engine reads every stored feature map again for every patch position, so it never lets an op
write into its input: it copies the input first (traced.py). That changes what the model computes
wherever the written tensor is read again after the write: `y.clamp_(0, 1)` as a statement (later
code reads `y`, which the write changed), `x.mul_(2)` on the input, `nn.ReLU(inplace=True)` on a
tensor another branch reads later. `functionalize` makes every later read of the written tensor
read the op's result instead, which is what the write did. That is exact when nothing else shares
the tensor's memory: the written tensor and every tensor that may be a view of it (or that it may
be a view of) must have no reader after the write. Where that cannot be proved (a view of the
tensor read later, a write into a parameter, an op that returns nothing, like `x[0] = 1`), the
model runs as full passes of the original module, and the note says which op.
"""

import operator

import torch
from torch import fx, nn
from torch.nn import functional as F

from nnscope.vision.occlusion import traced_regions as rt

# ops whose output is a new tensor, never a view of an input (anything else may be one)
FRESH_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm,
                 nn.GroupNorm, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                 nn.Softmax, nn.LogSoftmax)
FRESH_FUNCTIONS = {torch.cat, torch.stack, F.conv2d, F.linear, F.max_pool2d, torch.max_pool2d, F.avg_pool2d,
                   F.adaptive_avg_pool2d, F.adaptive_max_pool2d, torch.matmul, operator.matmul, torch.softmax,
                   F.softmax, F.log_softmax, torch.mean, torch.sum, F.batch_norm, F.layer_norm}
FRESH_METHODS = {"mean", "sum", "softmax", "log_softmax", "clone", "matmul"}
SETTERS = {operator.setitem}  # write into their first argument and return nothing to read instead


def _fresh(node: fx.Node, modules: dict) -> bool:
    """Whether the node's output is surely a new tensor (not a view of, nor the same as, an input)."""
    if node.op == "placeholder":
        return True
    if node.op == "call_module":
        m = modules[node.target]
        return isinstance(m, FRESH_MODULES) or (type(m) in rt.ELEMENTWISE_MODULES and type(m) is not nn.Identity)
    if node.op == "call_function":
        return node.target in FRESH_FUNCTIONS or (
            node.target in rt.ELEMENTWISE_FUNCTIONS | rt.BINARY_FUNCTIONS and node.target is not torch.relu_)
    if node.op == "call_method":
        methods = rt.ELEMENTWISE_METHODS | rt.BINARY_METHODS | FRESH_METHODS
        return node.target in methods and node.target not in ("contiguous", "float") and not node.target.endswith("_")
    return False


def functionalize(traced: fx.GraphModule) -> str:
    """Rewrites the graph so that later readers of a tensor written in place read the writing op's
    result; '' if every write is so rewritten exactly, else why not (the graph is then unusable)."""
    modules = dict(traced.named_modules())
    nodes = list(traced.graph.nodes)
    order = {n: i for i, n in enumerate(nodes)}
    rewritten: set = set()  # writes already made out of place: tensors of their own
    for node in nodes:
        if not rt.in_place(node, modules):
            continue
        bases = _bases(nodes, modules, rewritten)
        target = node.args[0] if node.args else None
        what = f"in-place op '{node.name}'"
        if not isinstance(target, fx.Node):
            return f"{what} writes into something that is not a traced tensor"
        if node.target in SETTERS:
            return f"{what} writes into a tensor and returns nothing"
        shared = bases[target]
        if any(n.op == "get_attr" for n in shared):
            return f"{what} writes into a weight or buffer of the model"
        # tensors made before the write that may share its memory: none may be read after it
        later = [u for m in nodes[:order[node]] if shared & bases[m] and m is not target for u in m.users
                 if order[u] > order[node]]
        if later:
            return f"{what} writes into a tensor that '{later[0].name}' reads later through a view"
        for user in list(target.users):
            if order[user] > order[node]:
                user.replace_input_with(target, node)
        rewritten.add(node)
    traced.recompile()
    return ""


def _bases(nodes: list, modules: dict, own: set) -> dict:
    """Per node, the nodes whose memory its output may share (itself included)."""
    bases: dict = {}
    for node in nodes:
        if node in own or node.op in ("placeholder", "get_attr") or _fresh(node, modules):
            bases[node] = {node}
        else:
            bases[node] = {node}.union(*(bases[a] for a in node.all_input_nodes))
    return bases
