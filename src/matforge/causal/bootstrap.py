"""Edge stability: how often FCI finds each edge over bootstrap resamples."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from matforge.causal.fci import CausalDiscoveryError, Test, run_fci
from matforge.causal.pag import neighbourhood
from matforge.causal.table import redundant_columns

MAX_FAILURES_KEPT = 10


@dataclass
class BootstrapResult:
    """Counts over the resamples on which FCI ran.

    Pairs are keyed in node order; edge kinds are PAG notation from the first
    node of the pair to the second (``-->``, ``o->``, ``<->``, ...).
    """

    nodes: tuple[str, ...]
    target: str
    resamples: int
    seed: int
    succeeded: int = 0
    runtime_s: float = 0.0
    adjacency: Counter[tuple[str, str]] = field(default_factory=Counter)
    marks: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    in_neighbourhood: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def _key(self, a: str, b: str) -> tuple[tuple[str, str], bool]:
        if self.nodes.index(a) <= self.nodes.index(b):
            return (a, b), False
        return (b, a), True

    def adjacency_frequency(self, a: str, b: str) -> float:
        """Share of the successful resamples in which ``a`` and ``b`` are adjacent."""
        if self.succeeded == 0:
            return 0.0
        key, _ = self._key(a, b)
        return self.adjacency[key] / self.succeeded

    def edge_frequency(self, a: str, b: str, symbol: str) -> float:
        """Share of the successful resamples with the edge ``a symbol b``."""
        if self.succeeded == 0:
            return 0.0
        key, flipped = self._key(a, b)
        if flipped:
            symbol = _reverse(symbol)
        return self.marks.get(key, Counter())[symbol] / self.succeeded

    def neighbourhood_frequency(self, node: str) -> float:
        """Share of the successful resamples with ``node`` in the neighbourhood."""
        if self.succeeded == 0:
            return 0.0
        return self.in_neighbourhood[node] / self.succeeded


_FLIP = {"<": ">", ">": "<", "-": "-", "o": "o"}


def _reverse(symbol: str) -> str:
    return "".join(_FLIP[c] for c in reversed(symbol))


def bootstrap_fci(
    data: np.ndarray,
    nodes: Sequence[str],
    target: str,
    *,
    resamples: int = 100,
    seed: int = 0,
    test: Test = "fisherz",
    alpha: float = 0.05,
    depth: int = -1,
    tiers: Sequence[Sequence[str]] = (),
    collinearity_r2: float = 0.9999,
    progress: Callable[[int], None] | None = None,
) -> BootstrapResult:
    """Run FCI on ``resamples`` bootstrap resamples of the rows and count edges.

    Rows are drawn with replacement by ``numpy.random.default_rng(seed)``. A
    column that a resample makes constant or collinear is left out of that
    resample (it then has no edge there); a resample whose target is constant,
    or on which FCI fails, is counted as failed and left out of the shares.

    Parameters
    ----------
    data
        Rows by columns (the prepared table).
    nodes
        A name per column.
    target
        The node whose neighbourhood is counted.
    resamples
        Number of resamples, B.
    seed
        Seed of the resampling.
    test, alpha, depth, tiers
        As for :func:`~matforge.causal.fci.run_fci`.
    collinearity_r2
        R^2 above which a column of a resample is dropped as collinear.
    progress
        Called with 1 after every resample.

    Returns
    -------
    BootstrapResult
        Adjacency, edge-kind and neighbourhood counts.
    """
    nodes = tuple(nodes)
    data = np.asarray(data, dtype=float)
    rng = np.random.default_rng(seed)
    result = BootstrapResult(nodes, target, resamples, seed)
    t_index = nodes.index(target)
    start = time.perf_counter()
    n = data.shape[0]
    for _ in range(resamples):
        sample = data[rng.integers(0, n, size=n)]
        try:
            dropped = redundant_columns(sample, nodes, collinearity_r2)
            if t_index in dropped:
                raise CausalDiscoveryError(f"target {target} is {dropped[t_index]}")
            keep = [j for j in range(len(nodes)) if j not in dropped]
            if len(keep) < 2:
                raise CausalDiscoveryError("fewer than two usable columns")
            names = [nodes[j] for j in keep]
            pag = run_fci(
                sample[:, keep], names, test=test, alpha=alpha, depth=depth, tiers=tiers
            )
        except CausalDiscoveryError as exc:
            if len(result.failures) < MAX_FAILURES_KEPT:
                result.failures.append(str(exc))
        else:
            result.succeeded += 1
            for a, b, *_ in pag.edges:
                key, _ = result._key(a, b)
                result.adjacency[key] += 1
                symbol = pag.symbol(*key)
                assert symbol is not None
                result.marks.setdefault(key, Counter())[symbol] += 1
            for near in neighbourhood(pag, target):
                result.in_neighbourhood[near.name] += 1
        if progress is not None:
            progress(1)
    result.runtime_s = time.perf_counter() - start
    return result
