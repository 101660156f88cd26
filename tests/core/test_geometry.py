import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matforge.core.chemistry import is_charge_balanced, is_metallic_hydride
from matforge.core.geometry import site_rmsd


def _tih2() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.45), ["Ti", "H"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )


def test_rmsd_is_zero_for_a_rigid_shift_across_the_cell_boundary():
    s = _tih2()
    shifted = s.copy()
    shifted.translate_sites(list(range(len(s))), [0.9, 0.0, 0.3])
    assert site_rmsd(s, shifted) == pytest.approx(0.0, abs=1e-9)


def test_rmsd_of_one_displaced_atom():
    s = _tih2()
    moved = s.copy()
    moved.translate_sites([0], [0.1, 0.0, 0.0], frac_coords=False)
    n = len(s)
    # one atom moved by 0.1 A, minus the mean shift 0.1/n felt by every atom
    expected = np.sqrt(((0.1 - 0.1 / n) ** 2 + (n - 1) * (0.1 / n) ** 2) / n)
    assert site_rmsd(s, moved) == pytest.approx(expected, rel=1e-6)


def test_rmsd_needs_the_same_sites():
    s = _tih2()
    other = s.copy()
    other.replace(0, "Zr")
    with pytest.raises(ValueError, match="same sites"):
        site_rmsd(s, other)


@pytest.mark.parametrize(
    ("formula", "mode", "exempt", "expected"),
    [
        ("Li3B3H6", "common", False, True),
        ("Ti3H4", "common", False, False),
        ("Ti3H4", "all", False, True),  # mixed valence with every known state
        ("PdH", "all", False, False),
        ("PdH", "all", True, True),  # metallic hydride
        ("K2Al3H6", "all", True, True),
        ("Ca2AlSi2H3", "icsd", True, True),
    ],
)
def test_charge_balance(formula, mode, exempt, expected):
    from pymatgen.core import Composition

    assert is_charge_balanced(Composition(formula), mode, exempt) is expected


def test_metallic_hydride():
    from pymatgen.core import Composition

    assert is_metallic_hydride(Composition("Mg2NiH4"))
    assert not is_metallic_hydride(Composition("LiBH4"))
    assert not is_metallic_hydride(Composition("H2"))


def test_primitive_cell_of_a_conventional_cell():
    from matforge.core.features import analyse_symmetry
    from matforge.core.geometry import primitive_cell

    naalh4 = Structure.from_spacegroup(
        "I4_1/a",
        Lattice.tetragonal(5.02, 11.33),
        ["Na", "Al", "H"],
        [[0, 0, 0], [0, 0, 0.5], [0.237, 0.137, 0.421]],
    )
    assert len(naalh4) == 24
    symmetry = analyse_symmetry(naalh4)
    assert symmetry.n_primitive == 12
    primitive = primitive_cell(naalh4, 0.1, symmetry.n_primitive)
    assert len(primitive) == 12
    assert primitive.composition.reduced_formula == "NaAlH4"
    assert primitive.volume == pytest.approx(naalh4.volume / 2)
    # Niggli-reduced: the reduction leaves it as it is
    again = primitive.get_reduced_structure("niggli")
    assert np.allclose(again.lattice.abc, primitive.lattice.abc)
    assert analyse_symmetry(primitive).fingerprint == symmetry.fingerprint
    # without the count, the search finds the same cell
    assert len(primitive_cell(naalh4)) == 12


def test_primitive_cell_keeps_a_primitive_input_as_written():
    from matforge.core.geometry import primitive_cell

    lih = Structure(
        Lattice.from_parameters(2.87, 2.87, 2.87, 60, 60, 60),
        ["Li", "H"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    assert primitive_cell(lih) is lih
    assert primitive_cell(lih, n_primitive=2) is lih
