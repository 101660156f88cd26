from pymatgen.core import Lattice, Structure

from matforge.core.score import storage_score
from matforge.schemas.relaxed import RelaxedDoc, relaxed_id_for


def _ti2h4() -> Structure:
    return Structure(
        Lattice.tetragonal(3.1, 4.4),
        ["Ti", "Ti", "H", "H", "H", "H"],
        [
            [0, 0, 0],
            [0.5, 0.5, 0.5],
            [0.5, 0, 0.25],
            [0, 0.5, 0.25],
            [0.5, 0, 0.75],
            [0, 0.5, 0.75],
        ],
    )


def test_relaxed_document_derives_formula_score_and_rmsd():
    initial = _ti2h4()
    relaxed = initial.copy()
    relaxed.perturb(0.05, min_distance=0.05, seed=5)
    doc = RelaxedDoc.from_relaxation(
        generated_id="gen-1",
        initial_structure=initial,
        structure=relaxed,
        potential="test-potential",
        potential_version="0",
        converged=True,
        steps=12,
        energy_per_atom=-5.0,
        formation_energy_per_atom=-0.401,
        e_above_hull=0.01,
    )
    assert doc.relaxed_id == relaxed_id_for("gen-1", "test-potential", "0")
    assert (doc.formula, doc.reduced_formula, doc.nsites) == ("Ti2H4", "TiH2", 6)
    assert 0 < doc.rmsd <= 0.05
    assert (
        doc.storage_score == storage_score("Ti2H4", -0.401, 0.121, 0.241).storage_score
    )
    assert not doc.failed
    # documents round-trip through their stored form
    again = RelaxedDoc.model_validate(doc.model_dump())
    assert again.structure == relaxed
    assert again.content_hash == doc.content_hash
    # the same inputs give the same content hash
    same = RelaxedDoc.from_relaxation(
        generated_id="gen-1",
        initial_structure=initial,
        structure=relaxed,
        potential="test-potential",
        potential_version="0",
        converged=True,
        steps=12,
        energy_per_atom=-5.0,
        formation_energy_per_atom=-0.401,
        e_above_hull=0.01,
    )
    assert same.content_hash == doc.content_hash


def test_failures_are_documents_too():
    doc = RelaxedDoc.from_failure(
        generated_id="gen-2",
        initial_structure=_ti2h4(),
        potential="test-potential",
        reason="the optimiser diverged (energy NaN at step 3)",
        steps=3,
    )
    assert doc.failed
    assert not doc.converged
    assert doc.structure is None
    assert doc.storage_score is None
    assert doc.reduced_formula == "TiH2"
    assert "diverged" in doc.failure_reason


def test_every_field_is_described():
    for name, field in RelaxedDoc.model_fields.items():
        assert field.description, name
