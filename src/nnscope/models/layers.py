"""The layers of a network in the order its forward pass calls them, with their output shapes.

The order is measured, not read from names: one forward pass with a hook on every submodule
records which module ran first. TorchScript runs outside Python, where hooks never fire, so for
it the order is read from its compiled forward code (the order of its submodule calls) and the
output shapes of its inner modules are not known.
"""

import difflib
from typing import Callable

import torch
from torch import nn

from nnscope.errors import NnscopeError

CONV_TYPE = "Conv2d"


def layer_type(module: nn.Module, name: str, known: dict[str, str]) -> str:
    """The class name of a layer: the one recorded by its format, else its Python class's."""
    return known.get(name) or type(module).__name__


def is_conv2d(module: nn.Module, type_name: str) -> bool:
    """An nn.Conv2d (or subclass), or a TorchScript / exported module that was one."""
    return isinstance(module, nn.Conv2d) or type_name == CONV_TYPE


def shape_of(output) -> list | None:
    """The shape of one image's output, without the batch dimension; a list of shapes for a tuple of outputs."""
    if isinstance(output, torch.Tensor):
        return list(output.shape[1:])
    if isinstance(output, (tuple, list)):
        shapes = [shape_of(o) for o in output]
        return shapes if all(s is not None for s in shapes) else None
    return None


def hooked_forward(network: nn.Module, run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, dict[str, list | None]]:
    """`run()`'s result and, for each module of `network` (itself included, as '') in the order its first call
    starts, the output shape of that call."""
    first_outputs: dict[str, list | None] = {}  # insertion order = order in which first calls start

    def started(name):
        def hook(module, inputs):
            first_outputs.setdefault(name, None)
        return hook

    def finished(name):
        def hook(module, inputs, output):
            if first_outputs.get(name) is None:
                first_outputs[name] = shape_of(output)
        return hook

    handles = []
    for name, module in network.named_modules():
        handles += [module.register_forward_pre_hook(started(name)), module.register_forward_hook(finished(name))]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, first_outputs


def torchscript_call_order(module, prefix: tuple[str, ...] = ()) -> list[str]:
    """Names of the submodules a TorchScript module's forward calls, in the order of its code ('' first: itself)."""
    order: list[str] = [""]
    collect_calls(module, module.forward.graph, prefix, order)
    return order


def collect_calls(module, graph_or_block, prefix: tuple[str, ...], order: list[str]) -> None:
    """Append the submodules that the nodes of one graph call, recursing into their methods and into blocks."""
    for node in graph_or_block.nodes():
        for block in node.blocks():  # if / loop bodies
            collect_calls(module, block, prefix, order)
        if node.kind() != "prim::CallMethod":
            continue
        path, source = [], node.inputsAt(0).node()
        while source.kind() == "prim::GetAttr":  # self.layer1.conv_a -> ['layer1', 'conv_a']
            path.append(source.s("name"))
            source = source.inputsAt(0).node()
        target = module
        for part in reversed(path):
            target = getattr(target, part)
        full = (*prefix, *reversed(path))
        if path and node.s("name") == "forward" and ".".join(full) not in order:
            order.append(".".join(full))
        collect_calls(target, getattr(target, node.s("name")).graph, full, order)


def own_parameters(module: nn.Module) -> int:
    """Numbers in the parameters a module holds itself, not in its submodules."""
    return sum(p.numel() for p in module.parameters(recurse=False))


def describe_layers(network: nn.Module, call_shapes: dict[str, list | None], types: dict[str, str]) -> list[dict]:
    """Every module of `network` (named_modules() order) with its type, output shape per image (None when not
    observed), parameters of its own and in total, and the position of its first call (None if never called)."""
    order = {name: i for i, name in enumerate(call_shapes)}
    return [
        {
            "name": name,
            "type": layer_type(module, name, types),
            "output_shape": call_shapes.get(name),
            "parameters": own_parameters(module),
            "total_parameters": sum(p.numel() for p in module.parameters()),
            "call_order": order.get(name),
        }
        for name, module in network.named_modules()
    ]


def close_matches_line(option: str, name: str, known: list[str], where: str) -> str:
    """'--layers: no layer 'conv4' in MODEL; close matches: conv1, conv2' (or the first few names)."""
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    listed = f"close matches: {', '.join(close)}" if close else f"layers: {', '.join(known[:12])}" + (
        f" and {len(known) - 12} more" if len(known) > 12 else "")
    return f"{option}: no layer {name!r} in {where}; {listed}"


def resolve_layer(loaded, name: str, option: str = "--layers") -> nn.Module:
    """The submodule of `loaded.network` named `name` (as named_modules() gives it); else one line listing close matches."""
    modules = dict(loaded.network.named_modules())
    if name not in modules or not name:
        raise NnscopeError(close_matches_line(option, name, [n for n in modules if n], loaded.source))
    return modules[name]
