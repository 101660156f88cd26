"""How torch runs the generator: CPU threads and compiled blocks, for a call."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from matforge.settings import cpu_threads

logger = logging.getLogger(__name__)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (0: every core we may use).

    The previous count is restored afterwards. On two cores alone, two
    threads trained the default model in 15.5 instead of 20.9 minutes; on
    cores shared with other work one thread used 2-7 times less CPU, as
    the generator's small tensors leave threads spinning for each other.
    """
    threads = cpu_threads(threads)
    previous = torch.get_num_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


COMPILE_MODES = ("auto", "on", "off")
"""Values of ``ml.compile``."""

COMPILE_MIN_TRAIN_STEPS = 1000
"""Optimiser steps from which ``auto`` compiles a training (about a minute of
compiling here, won back after some 600 steps of 16 crystals)."""

COMPILE_MIN_CRYSTAL_STEPS = 10_000
"""Crystals times score-network calls from which ``auto`` compiles sampling
(some ten seconds of compiling, won back after about 2,500)."""


def compile_wanted(mode: str, work: int, threshold: int) -> bool:
    """Return whether ``ml.compile`` ``mode`` compiles a job of ``work`` units.

    ``on`` and ``off`` decide alone; ``auto`` compiles when ``work`` reaches
    ``threshold`` (:data:`COMPILE_MIN_TRAIN_STEPS` optimiser steps, or
    :data:`COMPILE_MIN_CRYSTAL_STEPS` crystal-steps of sampling), so quick
    runs and tests stay eager and skip the compile time.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(
            f"unknown compile mode {mode!r}: expected one of {COMPILE_MODES}"
        )
    if mode == "auto":
        return work >= threshold
    return mode == "on"


def _short(exc: Exception) -> str:
    """Return an exception's type and the first line of its message."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


class _GuardedForward:
    """A block's compiled forward that falls back to its eager one for good.

    A compiler that cannot run here (no C++ compiler, an unsupported
    operation) raises on the first call: the block then runs eagerly, with
    one warning. An error of the block itself is raised again by the eager
    call, with its own traceback.
    """

    def __init__(self, block: torch.nn.Module, compiled: Any) -> None:
        self.block = block
        self.compiled = compiled
        self.eager = type(block).forward.__get__(block)
        self.failed = False

    def __call__(self, *args: Any) -> Any:
        if not self.failed:
            try:
                return self.compiled(*args)
            except Exception as exc:  # the eager call re-raises ours
                self.failed = True
                logger.warning(
                    "torch.compile failed on %s (%s); running it eagerly",
                    type(self.block).__name__,
                    _short(exc),
                )
        return self.eager(*args)


def _probe(blocks: Sequence[torch.nn.Module]) -> str | None:
    """Compile each kind of block on a small example, with its gradient.

    Returns why it failed, or None. The backward pass is compiled on its
    first call, outside any forward, so it is tried here once.
    """
    seen: set[type] = set()
    for block in blocks:
        if type(block) in seen:
            continue
        seen.add(type(block))
        try:
            inputs = block.example_inputs()
            outputs = block(*inputs)
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            sum(o.sum() for o in outputs).backward()
            block.zero_grad(set_to_none=True)
        except Exception as exc:  # any failure: stay eager
            return _short(exc)
        if isinstance(block.forward, _GuardedForward) and block.forward.failed:
            return "the forward pass did not compile"
    return None


@contextmanager
def compiled_blocks(
    blocks: Sequence[torch.nn.Module], enabled: bool, *, training: bool = False
) -> Iterator[bool]:
    """Run the message-passing blocks through ``torch.compile`` in the block.

    The blocks' edge-wise products and sums are most of the generator's
    time on a CPU; inductor fuses them (``bench/score_network.py`` here: a
    score-network call 1.4-1.8 times, a training step 1.3-1.6 times faster,
    the same outputs within float rounding). Shapes are dynamic, so one
    compile serves every batch. With ``training`` the backward pass is
    compiled first on a small example (:func:`_probe`). Where compiling
    fails the blocks run eagerly, with a warning. Yields whether they are
    compiled; the eager forwards are restored afterwards.
    """
    if not enabled:
        yield False
        return
    for block in blocks:
        compiled = torch.compile(block.forward, dynamic=True)
        block.forward = _GuardedForward(block, compiled)
    try:
        failure = _probe(blocks) if training else None
        if failure is not None:
            logger.warning(
                "torch.compile failed (%s); the generator runs eagerly", failure
            )
            for block in blocks:
                block.forward.failed = True
        yield failure is None
    finally:
        for block in blocks:
            if isinstance(block.__dict__.get("forward"), _GuardedForward):
                del block.forward
