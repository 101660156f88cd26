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
