"""Scale-out with PyTorch's own engine: under torchrun, one process group (gloo on CPU, nccl on GPU).

Without torchrun every helper here is a no-op for a single process. The rank and the world size
come from torchrun's environment, so the command line asks them without importing torch; the
helpers that talk to the process group import it when called.
"""

import os
import sys


def world_size() -> int:
    """Number of processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's index among them (0 without torchrun)."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's index on its own machine, which picks its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init() -> None:
    """Join the process group once, when started by torchrun with more than one process."""
    import torch
    import torch.distributed as dist

    if world_size() > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend)


def shutdown() -> None:
    """Leave the process group, if one was joined (torch is not even imported when none was)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (no-op for one)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def wrap(model, device):
    """The model (an nn.Module) wrapped in DistributedDataParallel when there are several processes."""
    if world_size() == 1:
        return model
    import torch

    init()
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def shard(count: int) -> range:
    """The indices of `count` items that this process handles: a contiguous block per rank."""
    per_rank = -(-count // world_size())
    return range(rank() * per_rank, min(count, (rank() + 1) * per_rank))


def gather_objects(obj):
    """Every rank's `obj`, in rank order, on every rank (a one-item list for one process)."""
    if world_size() == 1:
        return [obj]
    import torch.distributed as dist

    init()
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
