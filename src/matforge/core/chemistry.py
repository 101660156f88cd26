"""Element classes used by the hydride filters and features.

What counts as a metal hydride
------------------------------
A crystal is a metal hydride when it holds at least one metal and at least one
*hydridic* hydrogen: a hydrogen atom whose nearest non-hydrogen neighbours
(every non-H atom within 10 % of the shortest H-non-H distance) include a
metal or an element clearly less electronegative than hydrogen (Pauling
electronegativity at most 2.05, 0.15 below hydrogen's 2.20: B, Si, Ge, Sb).
Such a hydrogen carries a negative partial charge: it is a hydride anion H-,
as in LiH, MgH2, PdH, ZrNiH3 or Mg2NiH4 (H bonded to Ni), or the ligand of a
complex hydride anion, as in NaAlH4 ([AlH4]-), NaBH4 and LiBH4 ([BH4]-) or
KSiH3 ([SiH3]-), which are central to hydrogen storage and stay in.

Hydrogen bonded to C, N, O, P, S, As, Te or a halogen is protic or covalent
(its partner is as or more electronegative): methylammonium lead iodide
(CH3NH3PbI3), amides and imides (NaNH2, Li2NH), hydroxides and oxyhydroxides
(Fe(OH)2, ScOOH), hydrates and hydrosulfides (KHS) hold a metal and hydrogen
but no hydride, and are refused. A compound with both kinds (an amidoborane
such as LiNH2BH3, a borohydride ammoniate) is a metal hydride through its
hydridic hydrogen. Superhydrides (LaH10), whose hydrogens touch each other,
are judged by their nearest non-hydrogen neighbours, the metal.

:func:`metal_hydride_problem` applies this to a structure; a composition alone
cannot tell bonding apart, so :func:`is_metal_hydride` is only the necessary
composition screen (hydrogen and a metal), for formula-only data.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pymatgen.core import Composition, Element, Structure
from pymatgen.core.periodic_table import DummySpecies, Species

HYDROGEN_ELECTRONEGATIVITY = 2.20  # Pauling
HYDRIDIC_MAX_ELECTRONEGATIVITY = 2.05
"""Non-metals at most this electronegative (B, Si, Ge, Sb) hold hydridic H."""
NEIGHBOUR_SHELL = 1.10
"""Neighbours within this factor of the shortest H-non-H distance count."""


@cache
def is_metal(symbol: str) -> bool:
    """Return whether an element symbol names a metal (pymatgen's definition).

    Alkali, alkaline-earth, transition, post-transition, rare-earth and actinide
    elements count as metals; metalloids such as B and Si do not.
    """
    return bool(Element(symbol).is_metal)


def element_symbols(composition: Composition) -> list[str]:
    """Return the element symbols of a composition, sorted by electronegativity."""
    return [el.symbol for el in sorted(composition.elements, key=lambda e: e.X)]


def metal_symbols(composition: Composition) -> list[str]:
    """Return the metal elements of a composition."""
    return [s for s in element_symbols(composition) if is_metal(s)]


def unknown_species(composition: Composition) -> list[str]:
    """Return the species of a composition that are not chemical elements."""
    return [str(sp) for sp in composition if isinstance(sp, DummySpecies)]


def is_metal_hydride(composition: Composition) -> bool:
    """Return whether a composition holds hydrogen and at least one metal.

    This is the composition screen only, necessary but not sufficient: a
    structure is judged by :func:`metal_hydride_problem`.
    """
    symbols = {el.symbol for el in composition.elements}
    return "H" in symbols and any(is_metal(s) for s in symbols - {"H"})


@cache
def is_hydridic_partner(symbol: str) -> bool:
    """Return whether hydrogen bonded to this element is hydridic (H-).

    Metals and the non-metals at most ``HYDRIDIC_MAX_ELECTRONEGATIVITY``
    (Pauling) electronegative: B, Si, Ge, Sb.
    """
    if symbol == "H":
        return False
    element = Element(symbol)
    if element.is_metal:
        return True
    chi = element.X
    return bool(np.isfinite(chi)) and chi <= HYDRIDIC_MAX_ELECTRONEGATIVITY


def hydrogen_neighbours(
    structure: Structure, distances: np.ndarray | None = None
) -> list[tuple[int, float, tuple[str, ...]]]:
    """Return, for every H site, its nearest non-hydrogen neighbours.

    Parameters
    ----------
    structure
        An ordered structure.
    distances
        Its distance matrix (periodic, shortest image), when already computed.

    Returns
    -------
    list of (site index, shortest distance in angstrom, element symbols)
        The symbols of every non-H atom within ``NEIGHBOUR_SHELL`` times the
        shortest H-non-H distance, sorted; an empty tuple when the structure
        holds no other element.
    """
    symbols = [site.specie.symbol for site in structure]
    h_sites = [i for i, s in enumerate(symbols) if s == "H"]
    others = [i for i, s in enumerate(symbols) if s != "H"]
    if not others:
        return [(i, float("inf"), ()) for i in h_sites]
    if distances is None:
        distances = np.asarray(structure.distance_matrix, dtype=float)
    block = np.asarray(distances, dtype=float)[np.ix_(h_sites, others)]
    shortest = block.min(axis=1)
    found = []
    for row, site in enumerate(h_sites):
        near = np.flatnonzero(block[row] <= NEIGHBOUR_SHELL * shortest[row])
        shell = tuple(sorted({symbols[others[k]] for k in near}))
        found.append((site, float(shortest[row]), shell))
    return found


def metal_hydride_problem(
    structure: Structure, distances: np.ndarray | None = None
) -> str | None:
    """Return why an ordered structure is not a metal hydride, or None if it is.

    The definition is in this module's docstring: at least one metal, and at
    least one hydrogen whose nearest non-H neighbours include a metal or B,
    Si, Ge or Sb.

    Parameters
    ----------
    structure
        An ordered structure.
    distances
        Its distance matrix, when already computed.

    Returns
    -------
    str or None
        A reason a person understands, or None for a metal hydride.
    """
    formula = structure.composition.reduced_formula
    symbols = {site.specie.symbol for site in structure}
    if "H" not in symbols:
        return f"no hydrogen in {formula}"
    if not any(is_metal(s) for s in symbols - {"H"}):
        return f"no metal in {formula} (a hydride needs at least one metal)"
    neighbours = hydrogen_neighbours(structure, distances)
    if any(any(is_hydridic_partner(s) for s in shell) for _, _, shell in neighbours):
        return None
    partners = sorted({s for _, _, shell in neighbours for s in shell})
    shortest = min(d for _, d, _ in neighbours)
    return (
        f"not a metal hydride: every H in {formula} is bonded to "
        f"{', '.join(partners)} (shortest {shortest:.2f} A), none to a metal or "
        "to B, Si, Ge or Sb; protic or covalent hydrogen (as in hydroxides, "
        "amides, ammonium or methylammonium) is no hydride"
    )


def is_metallic_hydride(composition: Composition) -> bool:
    """Return whether every element of a hydride other than H is a metal."""
    symbols = {el.symbol for el in composition.elements} - {"H"}
    return bool(symbols) and all(is_metal(s) for s in symbols)


@cache
def _neutral_assignment_exists(reduced_formula: str, oxidation_states: str) -> bool:
    comp = Composition(reduced_formula)
    if oxidation_states == "common":
        return bool(comp.oxi_state_guesses())
    if oxidation_states == "all":
        return bool(comp.oxi_state_guesses(all_oxi_states=True))
    # "icsd": every state seen in the ICSD
    table = {el.symbol: tuple(el.icsd_oxidation_states) for el in comp.elements}
    return bool(comp.oxi_state_guesses(oxi_states_override=table))


def is_charge_balanced(
    composition: Composition,
    oxidation_states: str = "all",
    metallic_exempt: bool = True,
) -> bool:
    """Return whether some oxidation states make a composition neutral.

    Parameters
    ----------
    composition
        The composition (only its reduced formula matters).
    oxidation_states
        ``"common"``, ``"icsd"`` or ``"all"``: the states each element may take
        (pymatgen's common states, those seen in the ICSD, every known one).
        Mixed valence is allowed.
    metallic_exempt
        Count a hydride whose other elements are all metals as balanced: its
        bonding is metallic (PdH, intermetallic hydrides), as SMACT-style
        validity checks treat alloys.

    Returns
    -------
    bool
        True when the composition passes.
    """
    if oxidation_states not in {"common", "icsd", "all"}:
        raise ValueError(f"unknown oxidation-state set {oxidation_states!r}")
    if metallic_exempt and is_metallic_hydride(composition):
        return True
    return _neutral_assignment_exists(composition.reduced_formula, oxidation_states)


ISOTOPES = {"D": "deuterium", "T": "tritium"}


def plain_elements(structure: Structure) -> tuple[Structure, list[str]]:
    """Return the structure with plain elements: D and T as H, no oxidation states.

    Deuterated samples (neutron diffraction gives many published hydride
    structures, NaAlD4, Mg2FeD6, ...) describe the same crystal as the
    hydride; oxidation states read from charged type symbols (``Na1+``) are
    not used by matforge. Unknown (dummy) species are left for the checks.

    Parameters
    ----------
    structure
        A structure as a reader found it.

    Returns
    -------
    structure, notes
        The structure (the same object when nothing changes, else a copy) and
        one note per change, for the stored document.
    """
    mapping: dict[object, Element] = {}
    isotope_sites: dict[str, float] = {}
    charged: list[str] = []
    composition = structure.composition
    for species, amount in composition.items():
        if isinstance(species, DummySpecies):
            continue
        element = species.element if isinstance(species, Species) else species
        target = Element.H if element.name in ISOTOPES else element
        if element.name in ISOTOPES:
            isotope_sites[element.name] = isotope_sites.get(element.name, 0) + amount
        if isinstance(species, Species) and species.oxi_state:
            charged.append(str(species))
        if target is not species:
            mapping[species] = target
    if not mapping:
        return structure, []
    plain = structure.copy()
    plain.replace_species(mapping)  # type: ignore[arg-type]
    notes = [
        f"{ISOTOPES[symbol]} ({symbol}) on {amount:g} site(s) read as hydrogen: "
        "stored as the hydride"
        for symbol, amount in sorted(isotope_sites.items())
    ]
    if charged:
        notes.append(
            f"oxidation states of the input ({', '.join(sorted(charged))}) not kept"
        )
    return plain, notes
