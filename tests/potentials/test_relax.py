from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from matforge.potentials.registry import resolve_potential
from matforge.potentials.relax import (
    relax_batched,
    relax_sequential,
    run_potential,
    structure_problem,
)
from matforge.settings import PotentialSettings

pytestmark = pytest.mark.potential


@pytest.fixture
def sevennet():
    return resolve_potential("sevennet-0")


@pytest.fixture
def unknown_element() -> Structure:
    """Fermium is not among SevenNet's elements: the evaluation must fail."""
    return Structure(Lattice.cubic(3.0), ["Fm", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_static_sequential_and_batched_agree(sevennet, lih, mgh2) -> None:
    seq = relax_sequential([lih, mgh2], sevennet, relax=False)
    bat = relax_batched([lih, mgh2], sevennet, relax=False)
    for a, b in zip(seq, bat, strict=True):
        assert a.ok
        assert b.ok
        assert not a.relaxed
        assert a.converged
        assert a.steps == 0
        assert a.energy_per_atom == pytest.approx(b.energy_per_atom, abs=2e-3)
        assert a.potential == "sevennet-0"
        assert a.potential_version == sevennet.version


def test_single_points_go_in_groups_bounded_by_atoms(
    sevennet, lih, mgh2, monkeypatch
) -> None:
    """The memory of a batched single point grows with its atoms: cap them."""
    import matforge.potentials.relax as relax_module

    real = relax_module._static_batch
    groups: list[int] = []

    def counting(structures, spec, **kwargs):
        groups.append(sum(len(s) for s in structures))
        return real(structures, spec, **kwargs)

    monkeypatch.setattr(relax_module, "_static_batch", counting)
    structures = [lih, mgh2, lih, mgh2, lih]
    results = relax_batched(structures, sevennet, relax=False, static_atoms=8)
    assert [r.index for r in results] == list(range(5))
    assert all(r.ok for r in results)
    assert sum(groups) == sum(len(s) for s in structures)
    # every group holds at most 8 atoms, or one structure that alone is larger
    assert max(groups) <= max(8, *(len(s) for s in structures))
    assert len(groups) > 1


def test_relaxations_converge_and_agree(sevennet, strained_lih, mgh2) -> None:
    seq = relax_sequential([strained_lih, mgh2], sevennet, fmax=0.05, steps=200)
    bat = relax_batched([strained_lih, mgh2], sevennet, fmax=0.05, steps=200)
    for a, b in zip(seq, bat, strict=True):
        assert a.ok, a.error
        assert b.ok, b.error
        assert a.converged
        assert b.converged
        assert a.relaxed
        assert a.steps > 0
        assert b.steps > 0
        assert a.max_force < 0.05
        assert a.energy_per_atom == pytest.approx(b.energy_per_atom, abs=5e-3)
    # the stretched LiH shrinks back and gets lower in energy
    [static] = relax_sequential([strained_lih], sevennet, relax=False)
    assert seq[0].structure.volume < strained_lih.volume
    assert seq[0].energy < static.energy


def test_too_few_steps_is_a_failure_with_a_reason(sevennet, strained_lih) -> None:
    for engine in (relax_sequential, relax_batched):
        [result] = engine([strained_lih], sevennet, steps=5)
        assert not result.ok
        assert not result.converged
        assert result.error.startswith("did not converge within 5 steps")
        assert result.energy is not None  # the last energy is kept


@pytest.mark.parametrize("relax", [False, True])
def test_a_bad_structure_fails_alone_in_a_batch(
    sevennet, lih, mgh2, unknown_element, relax
) -> None:
    results = relax_batched([lih, unknown_element, mgh2], sevennet, relax=relax)
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].ok
    assert results[2].ok
    assert not results[1].ok
    assert results[1].error  # a reason, not silence
    [seq] = relax_sequential([unknown_element], sevennet, relax=relax)
    assert not seq.ok
    assert seq.error


@pytest.mark.parametrize("relax", [False, True])
def test_an_error_of_the_caller_is_raised_not_blamed_on_a_structure(
    sevennet, lih, mgh2, relax
) -> None:
    seen = []

    def store_down(result) -> None:
        seen.append(result.index)
        raise ConnectionError("the store went away")

    with pytest.raises(ConnectionError, match="the store went away"):
        relax_batched(
            [lih, mgh2], sevennet, relax=relax, steps=20, on_result=store_down
        )
    assert len(seen) == 1  # not retried structure by structure


def test_chgnet_batched_predictions_match_the_calculator(lih, mgh2) -> None:
    chgnet = resolve_potential("chgnet")
    seq = relax_sequential([lih, mgh2], chgnet, relax=False)
    bat = relax_batched([lih, mgh2], chgnet, relax=False, batch_size=2)
    for a, b in zip(seq, bat, strict=True):
        assert a.ok
        assert b.ok
        assert a.energy_per_atom == pytest.approx(b.energy_per_atom, abs=1e-4)
    with pytest.raises(ValueError, match="cannot relax in batches"):
        relax_batched([lih], chgnet, relax=True)


def test_run_potential_follows_the_settings(sevennet, lih, mgh2) -> None:
    seen = []
    params = PotentialSettings(batched=True, steps=100)
    results = run_potential(
        [lih, mgh2], sevennet, params, relax=False, on_result=seen.append
    )
    assert sorted(r.index for r in seen) == [0, 1]
    assert all(r.ok for r in results)
    chgnet = resolve_potential("chgnet")  # no batched relaxation: one by one
    [result] = run_potential([lih], chgnet, params, relax=True)
    assert result.relaxed


def test_structure_problems(lih) -> None:
    assert structure_problem(lih) is None
    squeezed = Structure(
        Lattice.cubic(3.0), ["Li", "H"], [[0, 0, 0], [0.05, 0.05, 0.05]]
    )
    assert "collapsed" in structure_problem(squeezed)
    huge = Structure(Lattice.cubic(20.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert "exploded" in structure_problem(huge)


def test_a_runaway_relaxation_is_given_up_early(sevennet, lih) -> None:
    """A generated TiHI with Ti and I 0.97 A apart: SevenNet's forces explode.

    Without the runaway stop it spent all its steps on a collapsed cell
    (forces of 1e13 eV/A); the crystal beside it is not disturbed.
    """
    from matforge.potentials.relax import RUNAWAY_FORCE

    tihi = Structure(
        Lattice.from_parameters(3.153, 3.296, 3.922, 82.405, 83.06, 84.757),
        ["H", "Ti", "I"],
        [[0.759, 0.34, 0.596], [0.121, 0.848, 0.497], [0.912, 0.717, 0.67]],
    )
    runaway, good = relax_batched([tihi, lih], sevennet, steps=300)
    assert not runaway.ok
    assert runaway.error.startswith("the relaxation ran away")
    assert runaway.max_force > RUNAWAY_FORCE
    assert runaway.steps < 20
    assert not runaway.converged
    assert good.ok, good.error
    assert good.converged
