"""The part of a traced model that incremental occlusion runs as full passes, compiled once.

From the first node the engine cannot track (or whose window is most of the map) every item needs
the full computation anyway, so that tail of the graph is cut out as its own fx graph (inputs: the
full maps of the windowed nodes it reads), its 3 x 3 convs of many channels swapped for Winograd
ones (nnscope.vision.occlusion.winograd), scripted, frozen and optimised for inference by
TorchScript (the other weights prepacked for oneDNN). The same arithmetic up to float rounding;
where TorchScript cannot compile the tail, the engine interprets it node by node.
"""

import warnings

import torch
from torch import fx

from nnscope.vision.occlusion import winograd

_COMPILED: dict = {}  # (model key, tail) -> compiled module or None; compiling takes seconds


def compile_tail(traced: fx.GraphModule, plan: dict, key: tuple):
    """(module, boundary nodes) computing the graph's output from the full maps of the boundary
    nodes, or None if there is no tail or it does not compile; cached per model key and tail."""
    nodes = list(traced.graph.nodes)
    tail = [n for n in nodes if plan.get(n) == "full" and n.op not in ("placeholder", "output")]
    if not tail:
        return None
    inside = set(tail)
    boundary = [n for n in nodes if plan.get(n) not in (None, "full")
                and any(u in inside or u.op == "output" for u in n.users)]
    key = (key, tuple(n.name for n in tail))
    if key not in _COMPILED:
        if len(_COMPILED) > 8:  # a few models at a time, not a leak
            _COMPILED.clear()
        graph, env = fx.Graph(), {}
        for node in boundary:
            env[node] = graph.placeholder(node.name)
        for node in nodes:  # constants (plan None) and the tail, in the graph's order
            if node in inside or (plan.get(node) is None and node.op not in ("placeholder", "output")):
                env[node] = graph.node_copy(node, lambda a: env[a])
        graph.output(fx.node.map_arg(nodes[-1].args[0], lambda a: env[a]))
        try:
            module = fx.GraphModule(traced, graph).eval()
            for node in graph.nodes:  # the conv objects are the traced model's: replaced, not changed
                if node.op == "call_module" and winograd.faster(module.get_submodule(node.target)):
                    module.set_submodule(node.target, winograd.WinogradConv(module.get_submodule(node.target)))
            module.graph.eliminate_dead_code()
            module.recompile()
            with warnings.catch_warnings():  # TorchScript's notes on fx's generated code
                warnings.simplefilter("ignore")
                _COMPILED[key] = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(module)))
        except Exception:  # TorchScript covers most but not all of what fx traces
            _COMPILED[key] = None
    return (_COMPILED[key], boundary) if _COMPILED[key] is not None else None
