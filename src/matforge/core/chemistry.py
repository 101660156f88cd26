"""Element classes used by the hydride filters and features."""

from __future__ import annotations

from functools import cache

from pymatgen.core import Composition, Element
from pymatgen.core.periodic_table import DummySpecies


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
    """Return whether a composition holds hydrogen and at least one metal."""
    symbols = {el.symbol for el in composition.elements}
    return "H" in symbols and any(is_metal(s) for s in symbols - {"H"})


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
