"""The adapter over causal-learn's Fast Causal Inference (FCI)."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from matforge.causal.pag import Pag, pag_from_matrix
from matforge.errors import MatforgeError

Test = Literal["fisherz", "kci", "chisq", "gsq"]
TESTS: tuple[str, ...] = ("fisherz", "kci", "chisq", "gsq")
"""Conditional independence tests that may be asked for."""


class CausalDiscoveryError(MatforgeError):
    """FCI could not run on a table, with the reason."""


def effective_depth(depth: int, n_rows: int, n_nodes: int, test: str) -> int:
    """Return the conditioning depth FCI is run with.

    Fisher-z needs ``n - |S| - 3 > 0`` for a conditioning set ``S``, so its
    depth is capped at ``n - 4``; no set can be larger than ``n_nodes - 2``.

    Parameters
    ----------
    depth
        Depth asked for (-1: no limit).
    n_rows, n_nodes
        Size of the table.
    test
        The conditional independence test.

    Returns
    -------
    int
        The depth to use (-1: no limit).
    """
    limit = n_nodes - 2
    if test == "fisherz":
        limit = min(limit, n_rows - 4)
    limit = max(limit, 0)
    if depth < 0 or depth > limit:
        return -1 if limit >= n_nodes - 2 else limit
    return depth


def load_fci() -> Callable[..., Any]:
    """Import causal-learn's ``fci`` (seconds the first time; time FCI after it)."""
    from causallearn.search.ConstraintBased.FCI import fci

    return fci


def _background_knowledge(nodes: Sequence[str], tiers: Sequence[Sequence[str]]):
    from causallearn.graph.GraphNode import GraphNode
    from causallearn.utils.PCUtils.BackgroundKnowledge import BackgroundKnowledge

    present = set(nodes)
    knowledge = BackgroundKnowledge()
    placed = False
    for level, tier in enumerate(tiers):
        for name in tier:
            if name in present:
                knowledge.add_node_to_tier(GraphNode(name), level)
                placed = True
    return knowledge if placed else None


def run_fci(
    data: np.ndarray,
    nodes: Sequence[str],
    *,
    test: Test = "fisherz",
    alpha: float = 0.05,
    depth: int = -1,
    tiers: Sequence[Sequence[str]] = (),
) -> Pag:
    """Run FCI on a numeric table and return its PAG.

    causal-learn's progress bars and prints are silenced.

    Parameters
    ----------
    data
        Rows by columns, finite, no constant or collinear column.
    nodes
        A name per column.
    test
        Conditional independence test: ``fisherz`` (linear-Gaussian), ``kci``
        (kernel, slow: minutes on hundreds of rows), ``chisq`` or ``gsq``
        (discrete data).
    alpha
        Significance level of every test.
    depth
        Largest conditioning set of the adjacency search (-1: no limit); see
        :func:`effective_depth`.
    tiers
        Background knowledge: node names by tier, earliest first. No edge may
        point from a later tier into an earlier one; causal-learn then orients
        an edge across tiers as ``-->`` (a time order with no hidden common
        cause across tiers). Names not in ``nodes`` are ignored.

    Returns
    -------
    Pag
        The partial ancestral graph.

    Raises
    ------
    CausalDiscoveryError
        If the test is unknown or causal-learn fails on the data.
    """
    if test not in TESTS:
        raise CausalDiscoveryError(
            f"unknown independence test {test!r}; choose one of {', '.join(TESTS)}"
        )
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[1] != len(nodes):
        raise CausalDiscoveryError(
            f"data of shape {data.shape} does not match {len(nodes)} node names"
        )
    if not np.all(np.isfinite(data)):
        raise CausalDiscoveryError("the data hold NaN or infinite values")
    fci = load_fci()
    knowledge = _background_knowledge(nodes, tiers) if tiers else None
    run_depth = effective_depth(depth, data.shape[0], data.shape[1], test)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
            np.errstate(all="ignore"),
        ):
            warnings.simplefilter("ignore")
            graph, _ = fci(
                data,
                test,
                alpha,
                depth=run_depth,
                background_knowledge=knowledge,
                show_progress=False,
                node_names=list(nodes),
            )
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
        raise CausalDiscoveryError(
            f"FCI with {test} failed on {data.shape[0]} rows x {data.shape[1]} "
            f"columns: {exc}"
        ) from exc
    return pag_from_matrix(list(nodes), graph.graph)
