"""Make SevenNet's network cheaper to evaluate on the CPU, without changing a number.

A profile of SevenNet-0 on a batch of 152 atoms (16 seed hydrides, one torch
thread) put half the time of an energy-and-forces call in ``fill_``, not in
arithmetic. Two causes, both fixed here:

- e3nn generates its tensor products as ``torch.fx`` graphs that cut the
  per-edge weights (7,000 edges x 960 weights) and inputs into slices, one per
  path. The backward pass of every slice allocates a zero tensor as large as
  the whole input and adds them up: 15 allocations of 27 MB per convolution.
  :func:`streamline` rewrites every such group of slices into one
  ``torch.split``, whose backward concatenates the pieces once. The rewritten
  graph holds only torch operations, so e3nn can still pickle and copy it. It also drops
  the outer products the generated code computes and never uses.
- glibc hands every allocation above its mmap threshold back to the kernel
  when it is freed, so the next forward pass page-faults its way through
  fresh memory (about 250,000 minor faults a call). :func:`tune_allocator`
  keeps freed memory in the process instead.

And one for the one-by-one relaxations: ASE's cell filter calls scipy
(``logm``, ``expm``) between two force calls. OpenBLAS's threads then spin,
waiting for more work, on the cores torch's threads need, which doubled the
time of a SevenNet call on the 2-core machine. :func:`one_blas_thread` keeps
numpy and scipy on one thread while a relaxation runs (torch has its own
thread pool and is not limited).

Energies, forces and stresses stay bit-identical (``tests/potentials/
test_speedups.py`` checks it). ``bench/relax.py`` prints the effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
import operator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads only when a potential does
    import torch
    from torch import fx

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024**2
"""Largest value glibc accepts: allocations up to 32 MiB come from the heap."""
TRIM_THRESHOLD = 2**31 - 1
"""Free memory (bytes) at the top of the heap kept before glibc trims it (2 GiB,
the largest value of a C int: a forward and backward pass over 160 atoms of
SevenNet-0 frees about 1.5 GB)."""
TOP_PAD = 256 * 1024**2
"""Extra bytes glibc asks the kernel for whenever the heap grows."""


def _slice_of(node: fx.Node) -> tuple[fx.Node, int, tuple[int, int]] | None:
    """Return (source, dim, (start, stop)) when ``node`` is a plain slice."""
    from torch import fx

    if node.op != "call_function" or node.target is not operator.getitem:
        return None
    source, index = node.args
    if not isinstance(source, fx.Node) or not isinstance(index, tuple) or not index:
        return None
    last, lead = index[-1], index[:-1]
    if not isinstance(last, slice) or last.step not in (None, 1):
        return None
    start = 0 if last.start is None else last.start
    if not isinstance(start, int) or not isinstance(last.stop, int):
        return None
    if start < 0 or last.stop <= start:
        return None
    if lead == (Ellipsis,):
        dim = -1
    elif all(isinstance(x, slice) and x == slice(None) for x in lead):
        dim = len(lead)
    else:
        return None
    return source, dim, (start, last.stop)


def rewrite_graph(module: fx.GraphModule) -> int:
    """Turn groups of slices of one tensor into one split; drop unused products.

    Parameters
    ----------
    module
        A generated e3nn module; changed in place and recompiled.

    Returns
    -------
    int
        The number of changes (split groups plus removed nodes).
    """
    import torch

    pure = (torch.functional.einsum, torch.einsum, operator.getitem)
    graph = module.graph
    order = {node: i for i, node in enumerate(graph.nodes)}
    groups: dict[tuple[fx.Node, int], list[tuple[tuple[int, int], fx.Node]]] = {}
    for node in graph.nodes:
        if (found := _slice_of(node)) is not None:
            source, dim, bound = found
            groups.setdefault((source, dim), []).append((bound, node))
    changes = 0
    for (source, dim), items in groups.items():
        bounds = sorted({bound for bound, _ in items})
        overlap = any(b[0] < a[1] for a, b in itertools.pairwise(bounds))
        if len(items) < 2 or overlap:
            continue
        # pieces cover [0, size): the slices, the gaps between them and the rest
        edges = sorted({0, *(b for bound in bounds for b in bound)})
        sizes: list[Any] = [b - a for a, b in itertools.pairwise(edges)]
        where = {a: i for i, a in enumerate(edges[:-1])}
        first = min((node for _, node in items), key=order.__getitem__)
        with graph.inserting_before(first):
            size = graph.call_method("size", (source, dim))
            sizes.append(graph.call_function(operator.sub, (size, edges[-1])))
            split = graph.call_function(torch.split, (source, sizes, dim))
            pieces = {
                bound: graph.call_function(operator.getitem, (split, where[bound[0]]))
                for bound in bounds
            }
        for bound, node in items:
            node.replace_all_uses_with(pieces[bound])
            graph.erase_node(node)
        changes += 1
    # only nodes known to be pure: fx's own dead-code pass would also drop
    # in-place copies whose result is unused
    removed = True
    while removed:
        removed = False
        for node in reversed(list(graph.nodes)):
            if node.op == "call_function" and node.target in pure and not node.users:
                graph.erase_node(node)
                removed = True
                changes += 1
    if changes:
        graph.lint()
        module.recompile()
    return changes


def streamline(model: torch.nn.Module) -> int:
    """Rewrite every generated e3nn graph inside ``model`` (see :func:`rewrite_graph`).

    Parameters
    ----------
    model
        A network built from e3nn modules (SevenNet); changed in place.

    Returns
    -------
    int
        The number of changes made; 0 on a network already streamlined.
    """
    from torch import fx

    changes = 0
    for module in model.modules():
        for child in module.children():
            if isinstance(child, fx.GraphModule):
                changes += rewrite_graph(child)
    return changes


@functools.cache
def tune_allocator() -> bool:
    """Keep freed memory in this process instead of returning it to the kernel.

    Sets glibc's mmap threshold to its largest value and raises the trim
    threshold, so the large, short-lived tensors of a forward and backward
    pass reuse heap memory instead of page-faulting through new pages. The
    process keeps up to :data:`TRIM_THRESHOLD` of free memory. Called once per
    process; a no-op where the C library is not glibc.

    Returns
    -------
    bool
        True when glibc accepted the settings.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # not glibc
        return False
    if mallopt is None:
        return False
    return all(
        mallopt(option, value) == 1
        for option, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )


def one_blas_thread() -> AbstractContextManager[Any]:
    """Return a context in which numpy's and scipy's BLAS use one thread.

    Returns
    -------
    contextlib.AbstractContextManager
        threadpoolctl's limit on the BLAS libraries (torch's OpenMP pool is
        left alone).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
