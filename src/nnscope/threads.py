"""Running torch on one thread for a while, or many one-thread calls side by side."""

import contextlib
from concurrent.futures import ThreadPoolExecutor

import torch


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread inside the block, then restore the thread count. Two reasons to:
    a chain of small steps (a recurrence) runs 10x to 100x faster without the hand-off between
    threads, and a long sum that threads would split rounds the same whatever the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def map_on_threads(function, items) -> list:
    """[function(item) for item in items], on as many Python threads as torch has threads, each
    call on one torch thread: torch, numpy and nnscope's C loops release the GIL, so one call's work
    overlaps another's Python, where torch's own threads would leave a core idle; and a call's
    numbers do not depend on the thread count. Results come back in the order of `items`."""
    workers = torch.get_num_threads()
    with one_thread(), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))
