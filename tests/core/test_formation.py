from __future__ import annotations

import pytest
from pymatgen.core import Composition, Lattice, Structure

from matforge.core.formation import (
    formation_energy_per_atom,
    mp2020_corrected,
    mp2020_parameters,
)
from matforge.core.hull import HullCalculator, Phase
from matforge.data.offline import read_elemental_references
from matforge.potentials.energies import ml_formation_energy

H_CORRECTION = -0.179  # MP2020 anion correction per H in a hydride, eV


def test_hydride_gets_the_h_anion_correction(mgh2) -> None:
    corrected = mp2020_corrected(mgh2, -20.0)
    assert corrected.compatible
    assert corrected.run_type == "GGA"
    n_h = mgh2.composition["H"]
    assert corrected.correction == pytest.approx(H_CORRECTION * n_h, abs=1e-3)
    assert any("(H)" in name for name in corrected.corrections)


def test_oxide_with_a_u_element_is_gga_plus_u() -> None:
    params = mp2020_parameters(Composition("FeHO2"))
    assert params["run_type"] == "GGA+U"
    assert params["hubbards"] == {"Fe": 5.3}
    assert mp2020_parameters(Composition("TiH2"))["run_type"] == "GGA"
    s = Structure(
        Lattice.cubic(4.0),
        ["Fe", "O", "O", "H"],
        [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
    )
    corrected = mp2020_corrected(s, -30.0)
    assert corrected.compatible
    assert corrected.run_type == "GGA+U"
    assert any("Fe" in name for name in corrected.corrections)


def test_formation_energy_arithmetic() -> None:
    refs = {"Mg": -1.6, "H": -3.4}
    # MgH2 cell of 3 atoms at -3.0 eV/atom: (-9.0 - (-1.6 - 6.8)) / 3 = -0.2
    e = formation_energy_per_atom(Composition("MgH2"), -9.0, refs)
    assert e == pytest.approx(-0.2)
    with pytest.raises(KeyError, match="Li"):
        formation_energy_per_atom(Composition("LiH"), -5.0, refs)


def test_ml_formation_energy_adds_the_correction(mgh2) -> None:
    refs = {"Mg": -1.6, "H": -3.4}
    e_form, corrected = ml_formation_energy(mgh2, -2.9 * len(mgh2), refs)
    plain = formation_energy_per_atom(mgh2.composition, -2.9 * len(mgh2), refs)
    assert e_form == pytest.approx(plain + corrected.correction / len(mgh2))


def test_e_above_hull() -> None:
    hull = HullCalculator(
        [
            Phase("mgh", Composition("MgH"), -1.0),
            Phase("lih", Composition("LiH"), -5.0),  # outside Mg-H: ignored
        ],
        stable_tolerance=0.025,
        metastable_threshold=0.2,
    )
    mgh = Composition("MgH")
    assert hull.assess(mgh, -0.9).e_above_hull == pytest.approx(0.1)
    assert hull.assess(mgh, -1.2).e_above_hull == pytest.approx(-0.2)
    # the entry itself is left out by id: only the elements remain
    alone = hull.assess(mgh, -0.9, entry_id="mgh")
    assert alone.e_above_hull == pytest.approx(-0.9)
    # Mg2H lies on the Mg - MgH tie line at -2/3 eV/atom
    assert hull.assess(Composition("Mg2H"), 0.0).e_above_hull == pytest.approx(2 / 3)


def test_read_elemental_references(shared_data) -> None:
    refs = read_elemental_references(shared_data / "mp_elemental_references.json.gz")
    assert len(refs) == 88
    assert refs["H"].structure.composition.reduced_formula == "H2"
    assert refs["H"].mp_energy_per_atom == pytest.approx(-3.3927, abs=1e-3)
    assert refs["Mg"].mp_id.startswith("mp-")
