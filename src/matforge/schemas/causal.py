"""The causal_graphs collection: a partial ancestral graph (PAG) found by FCI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from matforge.schemas.common import BuildMeta, utcnow

Mark = Literal["tail", "arrow", "circle"]
"""An endpoint mark of a PAG edge: ``-`` (tail), ``>`` (arrow), ``o`` (circle)."""

Relation = Literal[
    "parent",
    "possible parent",
    "child",
    "possible child",
    "confounded",
    "undetermined",
    "selection",
    "ancestor",
    "possible ancestor",
]
"""How a node relates to the target (see :class:`NeighbourNode`)."""

_LEFT = {"tail": "-", "arrow": "<", "circle": "o"}
_RIGHT = {"tail": "-", "arrow": ">", "circle": "o"}


def edge_symbol(mark_a: str, mark_b: str) -> str:
    """Return the PAG notation of an edge from its marks, e.g. ``o->``.

    Parameters
    ----------
    mark_a, mark_b
        The marks at the first and at the second node.

    Returns
    -------
    str
        ``-->``, ``o->``, ``o-o``, ``<->``, ``<--``, ``<-o``, ``---``, ...
    """
    return f"{_LEFT[mark_a]}-{_RIGHT[mark_b]}"


class CausalEdge(BaseModel):
    """An edge of the PAG with the mark at each end and its bootstrap stability."""

    a: str = Field(description="First node.")
    b: str = Field(description="Second node.")
    mark_a: Mark = Field(description="Mark at `a`: tail, arrow or circle.")
    mark_b: Mark = Field(description="Mark at `b`: tail, arrow or circle.")
    stability: float | None = Field(
        default=None,
        description="Share of bootstrap resamples in which `a` and `b` are adjacent "
        "(None without bootstrap).",
    )
    mark_stability: float | None = Field(
        default=None,
        description="Share of bootstrap resamples with this edge and these very "
        "marks (None without bootstrap).",
    )

    @property
    def symbol(self) -> str:
        """The edge in PAG notation, e.g. ``o->``."""
        return edge_symbol(self.mark_a, self.mark_b)

    def __str__(self) -> str:
        return f"{self.a} {self.symbol} {self.b}"


class EdgeFrequency(BaseModel):
    """How often a pair of nodes is adjacent over the bootstrap, and with what marks."""

    a: str = Field(description="First node (in table order).")
    b: str = Field(description="Second node.")
    adjacency: float = Field(description="Share of resamples with an edge a-b.")
    marks: dict[str, float] = Field(
        description="Share of resamples per edge kind, in PAG notation from a to b "
        "(`-->`, `o->`, `<->`, ...)."
    )


class NeighbourNode(BaseModel):
    """A node of the target's causal neighbourhood.

    Adjacent nodes are labelled by their edge to the target: parent (``X --> T``),
    possible parent (``X o-> T``), child (``T --> X``), possible child
    (``T o-> X``), confounded (``X <-> T``), undetermined (``X o-o T``,
    ``X --o T``) or selection (``X --- T``). Non-adjacent nodes with a possibly
    directed path into the target are ancestors (every edge of some path is
    ``-->``) or possible ancestors.
    """

    name: str = Field(description="The node.")
    feature: str = Field(description="The table column the node comes from.")
    relation: Relation = Field(description="How the node relates to the target.")
    edge: str | None = Field(
        default=None,
        description="The edge to the target in PAG notation (adjacent nodes only).",
    )
    path: list[str] = Field(
        default_factory=list,
        description="A shortest possibly directed path from the node into the target "
        "(non-adjacent nodes only).",
    )
    stability: float | None = Field(
        default=None,
        description="Share of bootstrap resamples in which the node is adjacent to "
        "the target.",
    )
    neighbourhood_frequency: float | None = Field(
        default=None,
        description="Share of bootstrap resamples in which the node is in the "
        "target's neighbourhood.",
    )


class ColumnInfo(BaseModel):
    """A node of the analysis: the column it comes from and how it was encoded."""

    name: str = Field(description="Node name.")
    feature: str = Field(description="The table column it comes from.")
    kind: Literal["numeric", "ordinal", "binary", "onehot"] = Field(
        description="numeric as read; ordinal, binary or onehot encoding of a "
        "categorical column."
    )
    levels: dict[str, float] = Field(
        default_factory=dict,
        description="Encoded value of every category (categorical columns only).",
    )
    tier: int | None = Field(
        default=None, description="Background-knowledge tier (None: unconstrained)."
    )
    mean: float = Field(description="Mean of the encoded values.")
    std: float = Field(description="Standard deviation of the encoded values.")
    min: float = Field(description="Smallest encoded value.")
    max: float = Field(description="Largest encoded value.")


class Dropped(BaseModel):
    """A column or a group of rows left out, and why."""

    name: str = Field(description="The column, or the rows (ids or a count).")
    reason: str = Field(description="Why it was left out.")


class ArtefactRef(BaseModel):
    """Bytes kept in the data store (picture, DOT source, table)."""

    kind: str = Field(description="png, dot or csv.")
    blob_uuid: str = Field(description="Key of the artefact in the data store.")
    content_type: str = Field(description="MIME type.")
    size: int = Field(description="Size in bytes.")
    sha1: str = Field(description="SHA-1 of the bytes.")


class DataSnapshot(BaseModel):
    """The exact data the analysis ran on."""

    source: str = Field(
        description="Where the table comes from: `collection:hydrides` or `csv:PATH`."
    )
    n_rows_read: int = Field(description="Rows in the source.")
    n_rows_used: int = Field(description="Rows left after dropping incomplete ones.")
    row_ids: list[str] = Field(
        default_factory=list,
        description="Ids of the rows used (material_id for hydrides; row numbers "
        "for tables up to 1000 rows, empty beyond).",
    )
    table_hash: str = Field(
        description="SHA-1 of the encoded table (node names and values)."
    )
    newest_input: datetime | None = Field(
        default=None,
        description="Latest `last_updated` among the input documents, when known.",
    )
    dropped_rows: list[Dropped] = Field(
        default_factory=list, description="Rows left out, grouped by reason."
    )


class BootstrapSummary(BaseModel):
    """Edge stability over bootstrap resamples of the rows."""

    resamples: int = Field(description="Number of resamples asked for (B).")
    succeeded: int = Field(description="Resamples on which FCI ran.")
    seed: int = Field(description="Seed of numpy's default_rng used to resample.")
    runtime_s: float = Field(description="Wall time of the whole bootstrap, s.")
    edges: list[EdgeFrequency] = Field(
        default_factory=list,
        description="Every pair adjacent in at least one resample.",
    )
    failures: list[str] = Field(
        default_factory=list,
        description="Why resamples failed (at most ten messages).",
    )


class CausalGraphDoc(BaseModel):
    """A PAG from FCI with the target's causal neighbourhood and stable features."""

    graph_id: str = Field(
        description="Hash of the data and the settings: re-running the same analysis "
        "on the same data replaces this document."
    )
    target: str = Field(description="The column whose neighbourhood is kept.")
    nodes: list[str] = Field(description="Nodes of the graph, in table order.")
    edges: list[CausalEdge] = Field(description="Edges of the PAG.")
    algorithm: str = Field(
        default="fci", description="Causal discovery algorithm (causal-learn)."
    )
    test: str = Field(description="Conditional independence test.")
    alpha: float = Field(description="Significance level.")
    depth: int = Field(
        description="Largest conditioning set used (-1: no limit; capped at n - 4 "
        "for fisherz)."
    )
    n_samples: int = Field(description="Rows the graph was found on.")
    runtime_s: float = Field(description="Wall time of FCI on the full table, s.")
    tiers: list[list[str]] = Field(
        default_factory=list,
        description="Background knowledge: nodes by tier, earliest first (empty: "
        "none). No edge may point from a later tier into an earlier one.",
    )
    columns: list[ColumnInfo] = Field(description="How each node was encoded.")
    dropped_columns: list[Dropped] = Field(
        default_factory=list, description="Columns left out, with the reason."
    )
    data: DataSnapshot = Field(description="The data the analysis ran on.")
    neighbourhood: list[NeighbourNode] = Field(
        description="The target's causal neighbourhood, adjacent nodes first."
    )
    bootstrap: BootstrapSummary | None = Field(
        default=None, description="Edge stability (None when B = 0)."
    )
    stability_threshold: float = Field(
        description="Share of resamples a feature's adjacency to the target must "
        "reach to be selected."
    )
    selected_features: list[str] = Field(
        description="Table columns stably adjacent to the target (adjacent in the "
        "full-data graph when there is no bootstrap), most stable first."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="Caveats a reader should know (low power, dropped data, ...).",
    )
    artefacts: list[ArtefactRef] = Field(
        default_factory=list,
        description="Picture, DOT source and table, kept in the data store.",
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the document was made (UTC)."
    )

    def edge_between(self, a: str, b: str) -> CausalEdge | None:
        """Return the edge between two nodes, oriented from ``a``, or None."""
        for edge in self.edges:
            if (edge.a, edge.b) == (a, b):
                return edge
            if (edge.b, edge.a) == (a, b):
                return edge.model_copy(
                    update={
                        "a": a,
                        "b": b,
                        "mark_a": edge.mark_b,
                        "mark_b": edge.mark_a,
                    }
                )
        return None

    def summary(self) -> dict[str, Any]:
        """Return the short JSON form printed by ``matforge causal --json``."""
        return {
            "graph_id": self.graph_id,
            "target": self.target,
            "test": self.test,
            "alpha": self.alpha,
            "n_samples": self.n_samples,
            "nodes": list(self.nodes),
            "edges": [
                {
                    "a": e.a,
                    "b": e.b,
                    "mark_a": e.mark_a,
                    "mark_b": e.mark_b,
                    "stability": e.stability,
                }
                for e in self.edges
            ],
            "neighbourhood": [
                n.model_dump(exclude_none=True) for n in self.neighbourhood
            ],
            "selected_features": list(self.selected_features),
            "dropped_columns": [d.model_dump() for d in self.dropped_columns],
            "dropped_rows": [d.model_dump() for d in self.data.dropped_rows],
        }
