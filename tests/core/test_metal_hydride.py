"""What counts as a metal hydride: hydridic hydrogen, judged on real structures.

The structures are built from published crystal data (rounded) or, where said,
are ordered models of a disordered phase with realistic bond lengths.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from pymatgen.core import Element, Lattice, Species, Structure

from matforge.core.checks import hydride_problems
from matforge.core.chemistry import (
    hydrogen_neighbours,
    is_hydridic_partner,
    metal_hydride_problem,
    plain_elements,
)


def naalh4() -> Structure:
    """NaAlH4, I4_1/a (origin choice 1 of pymatgen): a = 5.02, c = 11.33 A."""
    return Structure.from_spacegroup(
        "I4_1/a",
        Lattice.tetragonal(5.02, 11.33),
        ["Na", "Al", "H"],
        [[0, 0, 0], [0, 0, 0.5], [0.237, 0.137, 0.421]],
    )


def libh4() -> Structure:
    """LiBH4, Pnma room-temperature phase (after Soulie et al. 2002)."""
    return Structure.from_spacegroup(
        "Pnma",
        Lattice.orthorhombic(7.17858, 4.43686, 6.80321),
        ["Li", "B", "H", "H", "H"],
        [
            [0.1568, 0.25, 0.1015],
            [0.3040, 0.25, 0.4305],
            [0.900, 0.25, 0.956],
            [0.404, 0.25, 0.280],
            [0.172, 0.054, 0.428],
        ],
    )


def nabh4() -> Structure:
    """NaBH4, ordered F-43m model of the cubic phase: a = 6.16 A, B-H 1.21 A."""
    x = 0.5 + 1.21 / (6.16 * np.sqrt(3))
    return Structure.from_spacegroup(
        "F-43m",
        Lattice.cubic(6.16),
        ["Na", "B", "H"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [x, x, x]],
    )


def alh3() -> Structure:
    """Alpha-AlH3, R-3c: a = 4.449, c = 11.804 A, H on 18e (x = 0.628)."""
    return Structure.from_spacegroup(
        "R-3c",
        Lattice.hexagonal(4.449, 11.804),
        ["Al", "H"],
        [[0, 0, 0], [0.628, 0, 0.25]],
    )


def pdh() -> Structure:
    """PdH, rock salt, a = 4.02 A."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.02), ["Pd", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def mg2nih4() -> Structure:
    """Mg2NiH4, an ordered model of the cubic high-temperature phase.

    Antifluorite Mg2Ni framework (a = 6.49 A) with four H around each Ni at
    1.54 A (the Ni-H bond length of the [NiH4]4- complex).
    """
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.49), ["Ni", "Mg"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    for centre in [site.coords for site in s if site.specie.symbol == "Ni"]:
        for direction in ([1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]):
            s.append(
                "H", centre + 1.54 * np.array(direction), coords_are_cartesian=True
            )
    return s


def methylammonium_lead_iodide() -> Structure:
    """CH3NH3PbI3, cubic perovskite (a = 6.33 A), one ordered cation orientation."""
    a = 6.33
    carbon = np.array([a / 2 - 0.735, a / 2, a / 2])
    nitrogen = np.array([a / 2 + 0.735, a / 2, a / 2])
    species = ["Pb", "I", "I", "I", "C", "N"]
    coords = [[0, 0, 0], [a / 2, 0, 0], [0, a / 2, 0], [0, 0, a / 2], carbon, nitrogen]
    cos, sin = np.cos(np.radians(109.5)), np.sin(np.radians(109.5))
    for k in range(3):
        phi = np.radians(120 * k)
        species.append("H")
        coords.append(
            carbon + 1.09 * np.array([cos, sin * np.cos(phi), sin * np.sin(phi)])
        )
        phi += np.radians(60)
        species.append("H")
        coords.append(
            nitrogen + 1.03 * np.array([-cos, sin * np.cos(phi), sin * np.sin(phi)])
        )
    return Structure(Lattice.cubic(a), species, coords, coords_are_cartesian=True)


def sodium_amide() -> Structure:
    """NaNH2, a rock-salt model: Na+ and NH2- (N-H 1.02 A, H-N-H 104.5 deg)."""
    a = 5.20
    half = np.radians(104.5 / 2)
    arms = [
        1.02 * np.array([0, np.sin(half), np.cos(half)]),
        1.02 * np.array([0, -np.sin(half), np.cos(half)]),
    ]
    sodium = [[0, 0, 0], [a / 2, a / 2, 0], [a / 2, 0, a / 2], [0, a / 2, a / 2]]
    nitrogen = [np.array(p) for p in ([a / 2, 0, 0], [0, a / 2, 0], [0, 0, a / 2])]
    nitrogen.append(np.array([a / 2, a / 2, a / 2]))
    hydrogen = [n + arm for n in nitrogen for arm in arms]
    return Structure(
        Lattice.cubic(a),
        ["Na"] * 4 + ["N"] * 4 + ["H"] * 8,
        [*sodium, *nitrogen, *hydrogen],
        coords_are_cartesian=True,
    )


def lanthanum_superhydride() -> Structure:
    """LaH10, Fm-3m (a = 5.10 A, H on 8c and 32f x = 0.379): H-H 1.14 A, La-H 2.1 A."""
    return Structure.from_spacegroup(
        "Fm-3m",
        Lattice.cubic(5.10),
        ["La", "H", "H"],
        [[0, 0, 0], [0.25, 0.25, 0.25], [0.379, 0.379, 0.379]],
    )


@pytest.mark.parametrize(
    ("build", "partner"),
    [
        (naalh4, "Al"),
        (mg2nih4, "Ni"),
        (libh4, "B"),
        (nabh4, "B"),
        (alh3, "Al"),
        (pdh, "Pd"),
    ],
)
def test_hydrides_are_kept(build, partner):
    structure = build()
    assert metal_hydride_problem(structure) is None
    assert hydride_problems(structure, max_sites=100) == []
    shells = {shell for _, _, shell in hydrogen_neighbours(structure)}
    assert all(partner in shell for shell in shells)


def test_complex_hydride_bond_lengths_are_the_published_ones():
    (distance,) = {round(d, 2) for _, d, _ in hydrogen_neighbours(naalh4())}
    assert distance == pytest.approx(1.64, abs=0.02)  # Al-H in [AlH4]-
    (distance,) = {round(d, 2) for _, d, _ in hydrogen_neighbours(alh3())}
    assert distance == pytest.approx(1.715, abs=0.01)


@pytest.mark.parametrize(
    ("build", "partners"),
    [(methylammonium_lead_iodide, "C, N"), (sodium_amide, "N")],
)
def test_protic_hydrogen_is_refused(build, partners):
    structure = build()
    reason = metal_hydride_problem(structure)
    assert reason is not None
    assert reason.startswith("not a metal hydride")
    assert f"bonded to {partners} " in reason
    assert reason in hydride_problems(structure, max_sites=100)


def test_superhydride_is_judged_by_its_metal():
    structure = lanthanum_superhydride()
    shortest_hh = min(
        structure.get_distance(i, j)
        for i, a in enumerate(structure)
        for j, b in enumerate(structure)
        if i < j and a.specie.symbol == b.specie.symbol == "H"
    )
    shortest_metal = min(d for _, d, _ in hydrogen_neighbours(structure))
    assert shortest_hh < shortest_metal
    assert metal_hydride_problem(structure) is None


def test_one_hydridic_hydrogen_is_enough():
    # NaBH4 with one H moved next to an added O: the other H stay hydridic
    structure = nabh4()
    assert metal_hydride_problem(structure) is None
    h = next(i for i, s in enumerate(structure) if s.specie.symbol == "H")
    structure.append("O", structure[h].coords + np.array([0.0, 0.0, 0.97]), True)
    assert metal_hydride_problem(structure) is None
    kinds = [shell for _, _, shell in hydrogen_neighbours(structure)]
    assert ("O",) in kinds
    assert ("B",) in kinds


def test_partners():
    assert all(is_hydridic_partner(s) for s in ("Li", "Al", "Ni", "Pd", "Pt", "Au"))
    assert all(is_hydridic_partner(s) for s in ("B", "Si", "Ge"))
    assert not any(is_hydridic_partner(s) for s in ("H", "C", "N", "O", "S", "P"))
    assert not any(is_hydridic_partner(s) for s in ("F", "Cl", "As", "Te"))


def test_no_hydrogen_or_no_metal():
    s = Structure(Lattice.cubic(4), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert metal_hydride_problem(s) == "no hydrogen in MgO"
    s = Structure(Lattice.cubic(6), ["B", "H"], [[0, 0, 0], [0.2, 0, 0]])
    assert metal_hydride_problem(s).startswith("no metal in BH")


def test_seed_hydrides(shared_data):
    """The rule keeps 85 of the 104 seed entries; the 19 it drops are no hydrides.

    Each dropped entry holds only hydrogen bonded to O (hydroxides,
    oxyhydroxides, hydrates, acid salts), N (Li2NH, an ammonium salt) or S
    (KHS); every kept entry has hydrogen next to a metal.
    """
    seeds = json.loads(
        gzip.decompress((shared_data / "hydrides_seed.json.gz").read_bytes())
    )
    kept, dropped = [], {}
    for seed in seeds:
        structure = Structure.from_dict(seed["structure"])
        if metal_hydride_problem(structure) is None:
            kept.append(seed["formula"])
        else:
            partners = {
                s for _, _, shell in hydrogen_neighbours(structure) for s in shell
            }
            dropped[seed["material_id"]] = partners
    assert len(seeds) == 104
    assert len(kept) == 85
    assert len(dropped) == 19
    assert all(partners <= {"O", "N", "S"} for partners in dropped.values())
    assert dropped["mp-34465"] == {"N"}  # Li2NH, lithium imide
    assert dropped["mp-38011"] == {"S"}  # KHS
    for formula in ("MgH2", "LaAlH6", "CeFeH3", "ThCoH4", "TmNiH4", "Ba2H6Ru", "HPd"):
        assert formula in kept


def test_plain_elements_reads_isotopes_as_hydrogen():
    s = Structure(
        Lattice.cubic(4.07),
        ["Pd", "D", "T"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]],
    )
    plain, notes = plain_elements(s)
    assert [site.specie for site in plain] == [Element.Pd, Element.H, Element.H]
    assert notes == [
        "deuterium (D) on 1 site(s) read as hydrogen: stored as the hydride",
        "tritium (T) on 1 site(s) read as hydrogen: stored as the hydride",
    ]
    assert [site.specie for site in s][1] is Element.D  # the input is untouched


def test_plain_elements_drops_oxidation_states():
    s = Structure(
        Lattice.cubic(4.88),
        [Species("Na", 1), Species("H", -1)],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    plain, notes = plain_elements(s)
    assert [site.specie for site in plain] == [Element.Na, Element.H]
    assert notes == ["oxidation states of the input (H-, Na+) not kept"]
    unchanged = Structure(Lattice.cubic(4), ["Na", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert plain_elements(unchanged) == (unchanged, [])
