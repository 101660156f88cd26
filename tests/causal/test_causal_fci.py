"""FCI recovers a known DAG's skeleton and the target's neighbourhood exactly."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.causal.analysis import discover
from matforge.causal.bootstrap import bootstrap_fci
from matforge.causal.fci import CausalDiscoveryError, effective_depth, run_fci
from matforge.causal.pag import Pag, neighbourhood
from matforge.causal.synthetic import EXAMPLE_DAG, linear_gaussian_sample
from matforge.causal.table import RawTable, prepare_table

TRUE_SKELETON = {frozenset(edge) for edge in EXAMPLE_DAG}
# x1 -> x3 <- x2 and x3 -> y <- x4 are unshielded colliders; FCI's rule 1 then
# orients x3 --> y and y --> x5 (x3 and x5 are not adjacent); x4 has no other
# neighbour, so its tail stays a circle.
EXPECTED_NEIGHBOURHOOD = {
    ("x3", "parent", "-->"),
    ("x4", "possible parent", "o->"),
    ("x5", "child", "<--"),
    ("x1", "possible ancestor", None),
    ("x2", "possible ancestor", None),
}


def _table(names: list[str], data: np.ndarray) -> RawTable:
    return RawTable(
        {n: list(data[:, i]) for i, n in enumerate(names)},
        [str(i) for i in range(len(data))],
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_dag_is_recovered(seed: int) -> None:
    names, data = linear_gaussian_sample(EXAMPLE_DAG, 2000, seed=seed)
    assert data.shape == (2000, 10)
    pag = run_fci(data, names, alpha=0.01)
    assert pag.skeleton() == TRUE_SKELETON
    found = {(n.name, n.relation, n.edge) for n in neighbourhood(pag, "y")}
    assert found == EXPECTED_NEIGHBOURHOOD
    assert pag.symbol("x1", "x3") == "o->"
    assert pag.symbol("x7", "x6") == "o->"


def test_discover_on_synthetic_data_selects_the_target_neighbours() -> None:
    names, data = linear_gaussian_sample(EXAMPLE_DAG, 2000, seed=0)
    table = prepare_table(_table(names, data), "y")
    doc = discover(table, alpha=0.01, bootstrap=4, seed=7)
    assert {frozenset((e.a, e.b)) for e in doc.edges} == TRUE_SKELETON
    assert {(n.name, n.relation) for n in doc.neighbourhood} == {
        (name, relation) for name, relation, _ in EXPECTED_NEIGHBOURHOOD
    }
    assert sorted(doc.selected_features) == ["x3", "x4", "x5"]
    assert doc.bootstrap is not None
    assert doc.bootstrap.seed == 7
    assert doc.bootstrap.succeeded == 4
    assert all(e.stability == 1.0 for e in doc.edges)
    near = {n.name: n for n in doc.neighbourhood}
    assert near["x1"].path == ["x1", "x3", "y"]
    assert near["x1"].stability == 0.0
    assert doc.n_samples == 2000
    assert doc.data.row_ids == []  # too many rows to list
    assert "causal-learn" in doc.build.versions


def test_a_hidden_common_cause_gives_a_bidirected_edge() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    hidden, c, d = rng.standard_normal((3, n))
    a = 0.8 * c + 0.8 * hidden + rng.standard_normal(n)
    b = 0.8 * d - 0.8 * hidden + rng.standard_normal(n)
    pag = run_fci(np.c_[c, a, b, d], ["c", "a", "b", "d"], alpha=0.01)
    assert pag.symbol("a", "b") == "<->"
    assert pag.symbol("c", "a") == "o->"
    relations = {(x.name, x.relation) for x in neighbourhood(pag, "a")}
    assert relations == {("c", "possible parent"), ("b", "confounded")}


def test_tiers_orient_edges_forwards() -> None:
    names, data = linear_gaussian_sample(EXAMPLE_DAG, 2000, seed=0)
    tiers = [["x1", "x2", "x4"], ["x3"], ["y"]]
    pag = run_fci(data, names, alpha=0.01, tiers=tiers)
    assert pag.symbol("x4", "y") == "-->"
    assert pag.symbol("x1", "x3") == "-->"


def test_bootstrap_is_reproducible_from_its_seed() -> None:
    names, data = linear_gaussian_sample(EXAMPLE_DAG, 300, seed=3)
    first = bootstrap_fci(data, names, "y", resamples=3, seed=11, alpha=0.01)
    again = bootstrap_fci(data, names, "y", resamples=3, seed=11, alpha=0.01)
    assert first.adjacency == again.adjacency
    assert first.marks == again.marks
    assert first.succeeded == 3
    assert first.adjacency_frequency("x3", "y") == first.adjacency_frequency("y", "x3")
    assert first.edge_frequency("x3", "y", "-->") == first.edge_frequency(
        "y", "x3", "<--"
    )


def test_bootstrap_survives_a_column_a_resample_makes_constant() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(40)
    rare = np.zeros(40)
    rare[0] = 1.0  # most resamples miss the one non-zero row
    y = x + rng.standard_normal(40)
    data = np.c_[y, x, rare]
    result = bootstrap_fci(data, ["y", "x", "rare"], "y", resamples=5, seed=0)
    assert result.succeeded == 5
    assert result.adjacency_frequency("x", "y") > 0.5


def test_unknown_test_is_refused() -> None:
    with pytest.raises(CausalDiscoveryError, match="unknown independence test"):
        run_fci(np.zeros((10, 2)), ["a", "b"], test="pearson")  # type: ignore[arg-type]


def test_fisherz_depth_is_capped_by_the_rows() -> None:
    assert effective_depth(-1, 2000, 10, "fisherz") == -1
    assert effective_depth(-1, 8, 10, "fisherz") == 4
    assert effective_depth(6, 8, 10, "fisherz") == 4
    assert effective_depth(2, 8, 10, "fisherz") == 2
    assert effective_depth(-1, 8, 10, "kci") == -1


def test_neighbourhood_labels_every_edge_kind() -> None:
    pag = Pag(
        ("t", "p", "pp", "c", "pc", "h", "u", "s", "a", "pa", "far"),
        (
            ("p", "t", "tail", "arrow"),
            ("pp", "t", "circle", "arrow"),
            ("t", "c", "tail", "arrow"),
            ("t", "pc", "circle", "arrow"),
            ("h", "t", "arrow", "arrow"),
            ("u", "t", "circle", "circle"),
            ("s", "t", "tail", "tail"),
            ("a", "p", "tail", "arrow"),
            ("pa", "pp", "circle", "arrow"),
            ("far", "h", "tail", "arrow"),
        ),
    )
    found = {(n.name, n.relation) for n in neighbourhood(pag, "t")}
    assert found == {
        ("p", "parent"),
        ("pp", "possible parent"),
        ("c", "child"),
        ("pc", "possible child"),
        ("h", "confounded"),
        ("u", "undetermined"),
        ("s", "selection"),
        ("a", "ancestor"),
        ("pa", "possible ancestor"),
    }
    with pytest.raises(ValueError, match="not a node"):
        neighbourhood(pag, "nowhere")


def test_kci_runs_on_a_small_table() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(80)
    y = np.sin(2 * x) + 0.2 * rng.standard_normal(80)
    z = rng.standard_normal(80)
    pag = run_fci(np.c_[x, y, z], ["x", "y", "z"], test="kci", alpha=0.05)
    assert pag.skeleton() == {frozenset(("x", "y"))}
