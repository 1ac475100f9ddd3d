"""Helpers shared by test modules (imported as `helpers`: tests/ is on the path, as for user_nets)."""

import torch

import user_nets


def trained_like(name: str) -> torch.nn.Module:
    """The net of tests/user_nets.py named `name` with seeded random weights and non-trivial batch-norm
    statistics, in eval mode."""
    torch.manual_seed(0)
    net = getattr(user_nets, name)()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return net.eval()
