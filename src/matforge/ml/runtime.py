"""How torch runs the generator: CPU threads for the duration of a call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (0: leave as is).

    The generator's tensors are small (a batch of crystals of at most a few
    hundred atoms): on two shared cores one thread measured 2-7 times less
    CPU than two, which spin waiting for each other. The previous count is
    restored afterwards.
    """
    previous = torch.get_num_threads()
    if threads > 0 and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
