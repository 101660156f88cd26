import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matforge.core.features import analyse_symmetry, crystal_system, hydride_features
from matforge.schemas.features import HydrideFeatures
from matforge.settings import ScoreSettings

SCORE = ScoreSettings().model_dump()  # the score's defaults


def mgh2() -> Structure:
    return Structure.from_spacegroup(
        "P4_2/mnm",
        Lattice.tetragonal(4.50, 3.01),
        ["Mg", "H"],
        [[0, 0, 0], [0.304, 0.304, 0]],
    )


def test_symmetry_of_rutile_mgh2():
    sym = analyse_symmetry(mgh2())
    assert sym.number == 136
    assert sym.symbol == "P4_2/mnm"
    assert sym.crystal_system == "tetragonal"


def test_fingerprint_ignores_setting_origin_and_supercell():
    s = mgh2()
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [0.13, 0.27, 0.41])
    bigger = s.copy()
    bigger.make_supercell([1, 1, 2])
    rotated = Structure(
        Lattice(s.lattice.matrix[[1, 2, 0]]), s.species, s.frac_coords[:, [1, 2, 0]]
    )
    prints = {analyse_symmetry(x).fingerprint for x in (s, moved, bigger, rotated)}
    assert len(prints) == 1
    strained = s.copy()
    strained.apply_strain(0.05)
    assert analyse_symmetry(strained).fingerprint not in prints


def test_crystal_systems():
    assert crystal_system(1) == "triclinic"
    assert crystal_system(194) == "hexagonal"
    assert crystal_system(225) == "cubic"
    with pytest.raises(ValueError, match="1-230"):
        crystal_system(231)


def test_features_of_mgh2():
    s = mgh2()
    f = HydrideFeatures(
        **hydride_features(
            s, analyse_symmetry(s), formation_energy_per_atom=-0.25, **SCORE
        )
    )
    assert f.h_weight_fraction == pytest.approx(0.0766, abs=1e-4)
    assert f.h_atomic_fraction == pytest.approx(2 / 3)
    assert f.metal_h_ratio == pytest.approx(0.5)
    assert f.nelements == 2
    assert f.nsites == 6
    assert f.spacegroup_number == 136
    assert f.volume_per_atom == pytest.approx(s.volume / 6)
    assert f.density == pytest.approx(s.density)
    # 4 H of 1.008 amu in the cell volume, in kg/m^3 (MgH2: about 110 kg H / m^3)
    assert 100 < f.h_volumetric_density < 125
    assert f.min_metal_h_distance == pytest.approx(1.93, abs=0.02)
    assert f.min_h_h_distance is not None
    assert f.min_h_h_distance > f.min_metal_h_distance
    assert f.mean_electronegativity == pytest.approx((1.31 + 2 * 2.20) / 3, abs=1e-6)
    assert f.std_electronegativity == pytest.approx(np.std([1.31, 2.2, 2.2]), abs=1e-6)
    expected_factor = 0.5 * math.erfc((-0.25 - 0.121) / (math.sqrt(2) * 0.241))
    assert f.storage_score == pytest.approx(f.h_weight_fraction * expected_factor)


def test_features_without_energy_have_no_score():
    s = mgh2()
    f = HydrideFeatures(**hydride_features(s, analyse_symmetry(s), **SCORE))
    assert f.storage_score is None
    assert f.formation_energy_per_atom is None
