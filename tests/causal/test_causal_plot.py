"""Pictures of a PAG: DOT source and PNG."""

from __future__ import annotations

from matforge.causal.analysis import discover
from matforge.causal.plot import render_dot, render_png
from matforge.causal.synthetic import EXAMPLE_DAG, linear_gaussian_sample
from matforge.causal.table import RawTable, prepare_table
from matforge.schemas.causal import CausalGraphDoc

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _doc(tiers: list[list[str]] | None = None, bootstrap: int = 2) -> CausalGraphDoc:
    names, data = linear_gaussian_sample(EXAMPLE_DAG, 500, seed=0)
    raw = RawTable({n: list(data[:, i]) for i, n in enumerate(names)}, ["r"] * 500)
    table = prepare_table(raw, "y", tiers=tiers or [])
    return discover(table, alpha=0.01, tiers=tiers or [], bootstrap=bootstrap)


def test_dot_carries_the_marks_and_stability() -> None:
    doc = _doc()
    dot = render_dot(doc)
    assert dot.startswith("digraph PAG {")
    assert '"x1" -> "x3" [arrowtail=odot, arrowhead=normal' in dot
    assert '"x3" -> "y" [arrowtail=none, arrowhead=normal, label="1.00"' in dot
    assert dot.count(" -> ") == len(doc.edges)


def test_png_with_and_without_tiers() -> None:
    assert render_png(_doc()).startswith(PNG_MAGIC)
    tiers = [["x1", "x2", "x4", "x8"], ["x3", "x7", "x9"], ["y"], ["x5", "x6"]]
    assert render_png(_doc(tiers, bootstrap=0)).startswith(PNG_MAGIC)


def test_png_of_a_graph_without_edges() -> None:
    doc = _doc(bootstrap=0).model_copy(update={"edges": [], "neighbourhood": []})
    assert render_png(doc).startswith(PNG_MAGIC)
