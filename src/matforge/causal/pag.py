"""A partial ancestral graph (PAG) and the causal neighbourhood of a node in it.

Edges carry a mark at each end: tail (``-``), arrow (``>``) or circle (``o``).
An arrow at ``Y`` on ``X *-> Y`` says ``Y`` is not an ancestor of ``X``; a tail
at ``X`` on ``X --> Y`` says ``X`` is an ancestor of ``Y``; a circle says the
data leave it open.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matforge.schemas.causal import edge_symbol

MARKS = ("tail", "arrow", "circle")

_ADJACENT_RELATION = {
    # (mark at X, mark at target): relation of X to the target
    ("tail", "arrow"): "parent",
    ("circle", "arrow"): "possible parent",
    ("arrow", "tail"): "child",
    ("arrow", "circle"): "possible child",
    ("arrow", "arrow"): "confounded",
    ("circle", "circle"): "undetermined",
    ("tail", "circle"): "undetermined",
    ("circle", "tail"): "undetermined",
    ("tail", "tail"): "selection",
}


@dataclass(frozen=True)
class Pag:
    """A PAG over named nodes.

    Parameters
    ----------
    nodes
        Node names.
    edges
        ``(a, b, mark_a, mark_b)`` per edge, each pair at most once.
    """

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, str, str], ...]

    def __post_init__(self) -> None:
        known = set(self.nodes)
        seen: set[frozenset[str]] = set()
        for a, b, mark_a, mark_b in self.edges:
            if a not in known or b not in known or a == b:
                raise ValueError(f"edge {a}-{b} is not between two distinct nodes")
            if mark_a not in MARKS or mark_b not in MARKS:
                raise ValueError(f"edge {a}-{b} has unknown marks {mark_a}, {mark_b}")
            pair = frozenset((a, b))
            if pair in seen:
                raise ValueError(f"two edges between {a} and {b}")
            seen.add(pair)

    def mark(self, at: str, other: str) -> str | None:
        """Return the mark at ``at`` on the edge ``at``-``other`` (None: no edge)."""
        for a, b, mark_a, mark_b in self.edges:
            if (a, b) == (at, other):
                return mark_a
            if (b, a) == (at, other):
                return mark_b
        return None

    def adjacent(self, node: str) -> list[str]:
        """Return the nodes adjacent to ``node``, in node order."""
        near = {b for a, b, *_ in self.edges if a == node}
        near |= {a for a, b, *_ in self.edges if b == node}
        return [n for n in self.nodes if n in near]

    def skeleton(self) -> set[frozenset[str]]:
        """Return the adjacencies as unordered pairs."""
        return {frozenset((a, b)) for a, b, *_ in self.edges}

    def symbol(self, a: str, b: str) -> str | None:
        """Return the edge from ``a`` to ``b`` in PAG notation (None: no edge)."""
        mark_a, mark_b = self.mark(a, b), self.mark(b, a)
        if mark_a is None or mark_b is None:
            return None
        return edge_symbol(mark_a, mark_b)

    def without(self, nodes: Iterable[str]) -> Pag:
        """Return the PAG with some nodes (and their edges) removed."""
        gone = set(nodes)
        return Pag(
            tuple(n for n in self.nodes if n not in gone),
            tuple(e for e in self.edges if e[0] not in gone and e[1] not in gone),
        )


@dataclass(frozen=True)
class Neighbour:
    """A node of a target's causal neighbourhood (see :func:`neighbourhood`)."""

    name: str
    relation: str
    edge: str | None = None
    path: tuple[str, ...] = ()


def _paths_into(pag: Pag, target: str, definite: bool) -> dict[str, tuple[str, ...]]:
    """Shortest (possibly) directed paths from every node into ``target``.

    A path ``V0 ... Vn`` is possibly directed when no edge ``Vi - Vi+1`` has an
    arrow at ``Vi`` or a tail at ``Vi+1``; it is directed when every edge is
    ``Vi --> Vi+1``. Breadth-first search backwards from the target.
    """
    path: dict[str, tuple[str, ...]] = {target: (target,)}
    queue = deque([target])
    while queue:
        head = queue.popleft()
        for node in pag.adjacent(head):
            if node in path:
                continue
            near, far = pag.mark(node, head), pag.mark(head, node)
            if definite:
                ok = near == "tail" and far == "arrow"
            else:
                ok = near != "arrow" and far != "tail"
            if ok:
                path[node] = (node, *path[head])
                queue.append(node)
    del path[target]
    return path


def neighbourhood(pag: Pag, target: str) -> list[Neighbour]:
    """Return the causal neighbourhood of ``target`` in a PAG.

    The neighbourhood holds the nodes adjacent to the target, labelled by the
    edge (parent ``X --> T``, possible parent ``X o-> T``, child ``T --> X``,
    possible child ``T o-> X``, confounded ``X <-> T``, undetermined ``X o-o T``
    or ``X --o T``, selection ``X --- T``), then the non-adjacent nodes with a
    possibly directed path into the target: ancestors when a path of ``-->``
    edges exists, possible ancestors otherwise.

    Parameters
    ----------
    pag
        The graph.
    target
        A node of it.

    Returns
    -------
    list[Neighbour]
        Adjacent nodes in node order, then (possible) ancestors by path length.
    """
    if target not in pag.nodes:
        raise ValueError(f"{target!r} is not a node of the graph")
    result: list[Neighbour] = []
    adjacent = pag.adjacent(target)
    for node in adjacent:
        marks = (pag.mark(node, target), pag.mark(target, node))
        result.append(
            Neighbour(node, _ADJACENT_RELATION[marks], pag.symbol(node, target))
        )
    near = set(adjacent)
    directed = _paths_into(pag, target, definite=True)
    possible = _paths_into(pag, target, definite=False)
    ancestors = sorted(
        (n for n in possible if n not in near),
        key=lambda n: (len(possible[n]), pag.nodes.index(n)),
    )
    for node in ancestors:
        if node in directed:
            result.append(Neighbour(node, "ancestor", path=directed[node]))
        else:
            result.append(Neighbour(node, "possible ancestor", path=possible[node]))
    return result


def pag_from_matrix(nodes: Sequence[str], matrix: Sequence[Sequence[int]]) -> Pag:
    """Build a PAG from causal-learn's endpoint matrix.

    ``matrix[i][j]`` is the mark at node ``i`` on the edge ``i``-``j``:
    0 no edge, -1 tail, 1 arrow, 2 circle.

    Parameters
    ----------
    nodes
        Node names, in matrix order.
    matrix
        The square endpoint matrix (``GeneralGraph.graph``).

    Returns
    -------
    Pag
        The graph.
    """
    code = {-1: "tail", 1: "arrow", 2: "circle"}
    edges = []
    for i, first in enumerate(nodes):
        for j in range(i + 1, len(nodes)):
            a = first
            mark_a, mark_b = int(matrix[i][j]), int(matrix[j][i])
            if mark_a == 0 and mark_b == 0:
                continue
            if mark_a not in code or mark_b not in code:
                raise ValueError(
                    f"unexpected endpoint codes {mark_a}, {mark_b} on {a}-{nodes[j]}"
                )
            b, mark_a, mark_b = nodes[j], code[mark_a], code[mark_b]
            if mark_a == "arrow" and mark_b != "arrow":
                # Write asymmetric edges pointing forwards: x3 --> y, not y <-- x3.
                a, b, mark_a, mark_b = b, a, mark_b, mark_a
            edges.append((a, b, mark_a, mark_b))
    return Pag(tuple(nodes), tuple(edges))
