import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure

from matforge.ml.metrics import (
    compositional_validity,
    coverage,
    generation_metrics,
    novel_fraction,
    reconstruction,
    structural_validity,
)


def test_structural_validity_sees_periodic_images():
    good = Structure(Lattice.cubic(3.0), ["Mg", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert structural_validity(good)
    close = Structure(Lattice.cubic(3.0), ["Mg", "H"], [[0, 0, 0], [0.1, 0, 0]])
    assert not structural_validity(close)
    # an atom close to its neighbour's image across the cell boundary
    edge = Structure(Lattice.cubic(3.0), ["Mg", "H"], [[0.01, 0, 0], [0.95, 0, 0]])
    assert not structural_validity(edge)
    thin = Structure(Lattice.cubic(0.4), ["H"], [[0, 0, 0]])
    assert not structural_validity(thin)


@pytest.mark.parametrize(
    ("formula", "valid"),
    [
        ("MgH2", True),
        ("LiAlH4", True),
        ("Mg", True),
        ("MgNi", True),
        ("MgH7", False),
        ("LiNaKRbCsBeMgCaSrBaH12", False),  # too many elements to search
    ],
)
def test_compositional_validity(formula, valid):
    assert compositional_validity(Composition(formula)) is valid


def test_reconstruction_and_novelty(seed_structures):
    some = seed_structures[:4]
    perturbed = [s.copy() for s in some]
    for s in perturbed:
        s.perturb(0.02)
    rec = reconstruction(perturbed, some)
    assert rec["match_rate"] == 1.0
    assert 0 < rec["rmse"] < 0.1
    assert novel_fraction(some[:2], some) == 0.0
    assert novel_fraction(some[:2], some[2:]) == 1.0


def test_coverage_of_a_set_with_itself_is_full():
    rng = np.random.default_rng(0)
    struct, comp = rng.random((5, 3)), rng.random((5, 4))
    assert coverage(struct, comp, struct, comp) == {"cov_r": 1.0, "cov_p": 1.0}
    far = coverage(struct + 10, comp, struct, comp)
    assert far == {"cov_r": 0.0, "cov_p": 0.0}


def test_generation_metrics_table(seed_structures):
    some = seed_structures[:4]
    table = generation_metrics(some + some[:1], some[2:], some[:2])
    assert table["num_generated"] == 5
    assert table["structural_validity"] == 1.0
    assert 0 < table["uniqueness"] <= 0.8 + 1e-9
    assert 0 <= table["novelty"] <= 1
    assert {"cov_r", "cov_p", "wdist_density", "wdist_num_elements"} <= set(table)
