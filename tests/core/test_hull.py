"""Energies above the hull of competing phases, on hulls worked out by hand."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Composition

from matforge.core.hull import (
    HullCalculator,
    Phase,
    PhaseIndex,
    chemsys_of,
    subsystems,
)

FE_O = [
    Phase("mp-feo", Composition("FeO"), -1.25),  # x_O = 1/2
    Phase("mp-fe2o3", Composition("Fe2O3"), -1.4),  # x_O = 3/5
    Phase("mp-feo2", Composition("FeO2"), -0.9),  # above Fe2O3 + O
]


def calculator(phases, stable=0.025, metastable=0.2) -> HullCalculator:
    return HullCalculator(
        phases, stable_tolerance=stable, metastable_threshold=metastable
    )


def test_subsystems_and_chemsys():
    assert subsystems("O-Fe") == ["Fe", "O", "Fe-O"]
    assert len(subsystems("H-O-Fe-Tm")) == 15
    assert chemsys_of(Composition("TmFeHO")) == "Fe-H-O-Tm"


def test_a_crystal_between_two_hull_phases():
    hull = calculator(FE_O)
    # Fe3O4: x_O = 4/7 lies between FeO (1/2) and Fe2O3 (3/5)
    t = (4 / 7 - 1 / 2) / (3 / 5 - 1 / 2)
    hull_energy = -1.25 + t * (-1.4 + 1.25)
    result = hull.assess(Composition("Fe3O4"), -1.2)
    assert result.hull_energy == pytest.approx(hull_energy)
    assert result.e_above_hull == pytest.approx(-1.2 - hull_energy)
    assert {d.id: d.fraction for d in result.decomposition} == pytest.approx(
        {"mp-fe2o3": t, "mp-feo": 1 - t}
    )
    assert not result.stable
    assert result.metastable
    assert result.decomposition_text.startswith(f"{max(t, 1 - t):.3f}")


def test_elements_are_on_every_hull_at_zero():
    hull = calculator(FE_O)
    result = hull.assess(Composition("Fe3O"), -0.1)
    # between Fe (x=0, 0 eV) and FeO (x=1/2, -1.25 eV): the hull at x=1/4 is -0.625
    assert result.e_above_hull == pytest.approx(0.525)
    assert {d.formula for d in result.decomposition} == {"Fe", "FeO"}
    assert "element:Fe" in {d.id for d in result.decomposition}
    assert not result.stable
    assert not result.metastable


def test_below_the_hull_is_negative_and_stable():
    result = calculator(FE_O).assess(Composition("Fe2O3"), -1.5)
    assert result.e_above_hull == pytest.approx(-0.1)
    assert result.stable
    assert [d.id for d in result.decomposition] == ["mp-fe2o3"]


def test_the_entry_itself_is_left_out_by_id():
    hull = calculator(FE_O)
    with_itself = hull.assess(Composition("Fe2O3"), -1.4)
    assert with_itself.e_above_hull == pytest.approx(0.0)
    alone = hull.assess(Composition("Fe4O6"), -1.4, entry_id="mp-fe2o3")
    assert alone.excluded_id == "mp-fe2o3"
    # without Fe2O3 the hull at x_O = 3/5 joins FeO (1/2) and FeO2 (2/3)
    t = (3 / 5 - 1 / 2) / (2 / 3 - 1 / 2)
    assert alone.hull_energy == pytest.approx(-1.25 + t * (-0.9 + 1.25))
    assert alone.e_above_hull < 0
    assert "mp-fe2o3" not in {d.id for d in alone.decomposition}
    # an id that is not a hull phase changes nothing; an unknown id neither
    off = hull.assess(Composition("Fe2O3"), -1.4, entry_id="mp-feo2")
    assert off.excluded_id == "mp-feo2"
    assert off.e_above_hull == pytest.approx(0.0)
    assert hull.assess(Composition("Fe2O3"), -1.4, "mp-x").excluded_id is None


def test_a_ternary_uses_the_binaries_of_its_subsystems():
    phases = [
        *FE_O,
        Phase("mp-h2o", Composition("H2O"), -1.3),
        Phase("mp-feh", Composition("FeH"), -0.05),
        Phase("mp-far", Composition("LiH"), -0.5),  # another system: ignored
    ]
    hull = calculator(phases)
    result = hull.assess(Composition("FeHO2"), -1.2)
    assert result.chemsys == "Fe-H-O"
    assert result.n_phases == 3 + 5  # the elements and the five Fe-H-O phases
    assert result.e_above_hull > 0
    assert {d.id for d in result.decomposition} <= {"mp-fe2o3", "mp-h2o", "mp-feo"}
    assert sum(d.fraction for d in result.decomposition) == pytest.approx(1.0)


def test_one_phase_diagram_per_chemical_system():
    hull = calculator([*FE_O, Phase("mp-h2o", Composition("H2O"), -1.3)])
    for step in range(50):
        hull.assess(Composition("Fe3O4"), -1.2 + step * 1e-3)
        hull.assess(Composition({"Fe": 1, "O": 1, "H": step + 1}), -0.3)
    assert hull.built == 2


def test_the_index_replaces_an_id_and_skips_non_finite_energies():
    index = PhaseIndex(
        [
            Phase("a", Composition("FeO"), -1.0),
            Phase("a", Composition("Fe2O3"), -1.4),
            Phase("b", Composition("FeO2"), math.nan),
        ]
    )
    assert len(index) == 1
    assert [p.formula for p in index.in_system("Fe-O")] == ["Fe2O3"]
    assert index.systems() == {"Fe-O"}


def test_bad_input_is_refused():
    hull = calculator(FE_O)
    with pytest.raises(ValueError, match="not finite"):
        hull.assess(Composition("FeO"), math.nan)
    with pytest.raises(ValueError, match="empty"):
        hull.assess(Composition(), -1.0)
    with pytest.raises(ValueError, match="not an element"):
        hull.assess(Composition("FeXx"), -1.0)
    with pytest.raises(ValueError, match="stable_tolerance"):
        calculator(FE_O, stable=-0.1)
    with pytest.raises(ValueError, match="below"):
        calculator(FE_O, stable=0.1, metastable=0.05)
