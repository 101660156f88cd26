"""Linear-Gaussian data drawn from a known DAG, to check and time the stage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EXAMPLE_DAG: tuple[tuple[str, str], ...] = (
    ("x1", "x3"),
    ("x2", "x3"),
    ("x3", "y"),
    ("x4", "y"),
    ("y", "x5"),
    ("x5", "x6"),
    ("x7", "x6"),
    ("x8", "x7"),
    ("x8", "x9"),
)
"""A DAG over nine variables around a target ``y``: two unshielded colliders
(``x1 -> x3 <- x2``, ``x3 -> y <- x4``), a child chain ``y -> x5 -> x6`` with a
collider at ``x6`` and a fork ``x7 <- x8 -> x9`` upstream of it."""


def topological_order(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]]
) -> list[str]:
    """Return the nodes parents first (Kahn's algorithm; stable in node order)."""
    indegree = dict.fromkeys(nodes, 0)
    for _, child in edges:
        indegree[child] += 1
    order: list[str] = []
    ready = [n for n in nodes if indegree[n] == 0]
    while ready:
        node = ready.pop(0)
        order.append(node)
        for parent, child in edges:
            if parent == node:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
    if len(order) != len(nodes):
        raise ValueError("the edges hold a cycle")
    return order


def random_dag(
    n_nodes: int, edge_probability: float = 0.25, seed: int = 0
) -> tuple[list[str], list[tuple[str, str]]]:
    """Draw a random DAG: each pair ``x_i -> x_j`` (i < j) with a given probability.

    Parameters
    ----------
    n_nodes
        Number of nodes, named ``x1 ... xn``.
    edge_probability
        Probability of each forward edge.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    tuple[list[str], list[tuple[str, str]]]
        The node names and the ``(parent, child)`` edges.
    """
    rng = np.random.default_rng(seed)
    nodes = [f"x{i + 1}" for i in range(n_nodes)]
    edges = [
        (nodes[i], nodes[j])
        for i in range(n_nodes)
        for j in range(i + 1, n_nodes)
        if rng.random() < edge_probability
    ]
    return nodes, edges


def linear_gaussian_sample(
    edges: Sequence[tuple[str, str]],
    n: int,
    seed: int = 0,
    weight_range: tuple[float, float] = (0.5, 1.0),
    nodes: Sequence[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Draw rows of a linear structural equation model with Gaussian noise.

    Every node is the sum of its parents, each times a weight drawn uniformly
    from ``weight_range`` with a random sign, plus standard normal noise; then
    every column is standardised.

    Parameters
    ----------
    edges
        ``(parent, child)`` pairs of a DAG.
    n
        Number of rows.
    seed
        Seed of ``numpy.random.default_rng``.
    weight_range
        Smallest and largest absolute edge weight.
    nodes
        Node order of the columns (default: in order of first appearance).

    Returns
    -------
    tuple[list[str], numpy.ndarray]
        The column names and the ``n`` by ``len(nodes)`` data.
    """
    if nodes is None:
        nodes = list(dict.fromkeys(name for edge in edges for name in edge))
    nodes = list(nodes)
    rng = np.random.default_rng(seed)
    low, high = weight_range
    weights = {edge: rng.uniform(low, high) * rng.choice([-1.0, 1.0]) for edge in edges}
    values: dict[str, np.ndarray] = {}
    for node in topological_order(nodes, edges):
        column = rng.standard_normal(n)
        for (parent, child), weight in weights.items():
            if child == node:
                column = column + weight * values[parent]
        values[node] = column
    data = np.column_stack([values[name] for name in nodes])
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    return nodes, data
