"""Running torch on one thread for a while."""

import contextlib

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
