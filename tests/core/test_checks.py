import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matforge.core.checks import energy_problem, hydride_problems
from matforge.core.chemistry import is_metal, is_metal_hydride


def tih2() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.45), ["Ti", "H"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )


def test_a_real_hydride_passes():
    assert hydride_problems(tih2()) == []


def test_atoms_too_close():
    s = Structure(Lattice.cubic(5), ["Ti", "H"], [[0, 0, 0], [0.05, 0, 0]])
    (reason,) = hydride_problems(s)
    assert "0.250 A apart" in reason
    assert "0.5 A" in reason


def test_atom_too_close_to_its_own_image():
    s = Structure(
        Lattice.orthorhombic(0.3, 5, 5), ["Ti", "H"], [[0, 0, 0], [0, 0.5, 0.5]]
    )
    assert "own periodic image" in hydride_problems(s)[0]


def test_zero_volume_lattice():
    lattice = Lattice([[3, 0, 0], [0, 3, 0], [3, 3, 0]])
    s = Structure(lattice, ["Ti", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert "zero-volume" in hydride_problems(s)[0]


def test_nan_coordinates():
    s = Structure(Lattice.cubic(4), ["Ti", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.lattice = Lattice(np.array([[4, 0, 0], [0, 4, 0], [0, 0, math.nan]]))
    assert "non-finite" in hydride_problems(s)[0]


def test_disordered_structure():
    s = Structure(
        Lattice.cubic(4), [{"Ti": 0.5, "V": 0.5}, "H"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    (reason,) = hydride_problems(s)
    assert "disordered" in reason
    assert "Ti:0.50" in reason


def test_no_hydrogen_and_no_metal():
    assert hydride_problems(Structure(Lattice.cubic(4), ["Ti"], [[0, 0, 0]])) == [
        "no hydrogen in Ti"
    ]
    methane_like = Structure(Lattice.cubic(6), ["C", "H"], [[0, 0, 0], [0.2, 0, 0]])
    assert any("no metal" in p for p in hydride_problems(methane_like))


def test_too_many_sites():
    s = tih2()
    s.make_supercell([2, 2, 2])
    assert len(s) == 96
    reasons = hydride_problems(s, max_sites=20)
    assert any("96 sites is" in r and "20 allowed" in r for r in reasons)
    assert hydride_problems(s, max_sites=100) == []
    (reason,) = hydride_problems(s, max_sites=20, primitive=True)
    assert reason.startswith("96 sites in the primitive cell is more than the 20")


def test_metal_classes():
    assert is_metal("Al")
    assert is_metal("La")
    assert not is_metal("B")
    assert not is_metal("Si")
    assert is_metal_hydride(tih2().composition)
    assert not is_metal_hydride(
        Structure(Lattice.cubic(3), ["Ti"], [[0, 0, 0]]).composition
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (-0.4, None),
        ("-0.4", None),
        (math.nan, "not a finite"),
        ("abc", "not a number"),
        (math.inf, "not a finite"),
    ],
)
def test_energy_problem(value, expected):
    reason = energy_problem("formation_energy_per_atom", value)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason
        assert "formation_energy_per_atom" in reason
