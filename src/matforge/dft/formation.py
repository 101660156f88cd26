"""DFT formation energies on the Materials Project scale (pure; no store).

The recipe is that of :mod:`matforge.core.formation`, with DFT total
energies in place of the potential's:

1. the compound's DFT total energy (GPAW here, VASP on a cluster);
2. the MP2020 corrections (:func:`~matforge.core.formation.mp2020_corrected`,
   the Materials Project's own scheme: in a hydride -0.179 eV per H atom; the
   anion and GGA+U corrections where they apply), since the energy is a plain
   PBE energy like MP's uncorrected GGA ones;
3. elemental references computed with the same code and settings, from the
   ground-state structures of ``mp_elemental_references.json.gz`` (reduced to
   their primitive cells; a small standard cell, :data:`STANDARD_CELLS`, where
   MP's ground state is large and ``small_reference_cells`` is on): metals
   relaxed like the compounds; hydrogen either MP's H2 molecular crystal
   with its cell kept and its atoms relaxed
   (``hydrogen_reference = "solid"``; PBE does not bind the crystal, so a cell
   relaxation would only drift) or one H2 molecule in a cubic box
   (``"molecule"``; Gamma point, one process). MP2020 corrects no element.
4. ``E_form = (E_corrected - sum n_el mu_el) / N``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymatgen.core import Lattice, Structure

from matforge.core.formation import (
    CorrectedEnergy,
    ElementalReference,
    formation_energy_per_atom,
    mp2020_corrected,
)
from matforge.dft.availability import DftError

if TYPE_CHECKING:
    from matforge.settings import DftSettings

H2_BOND = 0.75
"""Starting H-H distance of the molecule in a box, angstrom (PBE: 0.75)."""


@dataclass(frozen=True)
class ReferenceSetup:
    """How an element's reference is computed."""

    element: str
    structure: Structure
    molecule: bool
    relax: bool
    relax_cell: bool
    mp_id: str | None
    mp_energy_per_atom: float | None
    cell: str = "mp"
    """``mp`` (MP's ground state), ``molecule`` or a standard cell's name."""

    @property
    def key(self) -> str:
        """What names the reference's task: the element, and a standard cell."""
        return (
            self.element
            if self.cell in {"mp", "molecule"}
            else (f"{self.element}:{self.cell}")
        )


def _bcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup(
        "Im-3m", Lattice.cubic(a), [element], [[0, 0, 0]]
    ).get_primitive_structure()


def _fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]]
    ).get_primitive_structure()


def _trigonal_selenium() -> Structure:
    # trigonal Se (P3_121), chains along c; a, c and x of the measured crystal
    return Structure.from_spacegroup(
        "P3_121", Lattice.hexagonal(4.366, 4.954), ["Se"], [[0.2254, 0, 1 / 3]]
    )


def _black_phosphorus() -> Structure:
    # orthorhombic black P (Cmce), its 4-atom primitive cell
    return Structure.from_spacegroup(
        "Cmce",
        Lattice.orthorhombic(3.3136, 10.478, 4.3763),
        ["P"],
        [[0, 0.10168, 0.08056]],
    ).get_primitive_structure()


STANDARD_CELLS: dict[str, tuple[str, Callable[[], Structure]]] = {
    "Na": ("bcc", lambda: _bcc("Na", 4.23)),
    "K": ("bcc", lambda: _bcc("K", 5.28)),
    "Rb": ("bcc", lambda: _bcc("Rb", 5.70)),
    "Cs": ("bcc", lambda: _bcc("Cs", 6.16)),
    # fcc at GPAW-PBE's lowest energy (a 3.40-3.60 scan); a ferromagnetic
    # start ends non-magnetic
    "Mn": ("fcc", lambda: _fcc("Mn", 3.50)),
    "Se": ("trigonal", _trigonal_selenium),
    "P": ("black", _black_phosphorus),
}
"""Small standard cells of elements whose MP ground state is large (Na: 29
atoms, K: 20, Rb: 8, Cs: 29, Mn: 29, Se: 64, P: 42 in the primitive cell). The
energy offset each makes (small cell minus MP's ground state) is listed in the
README: a few meV/atom, but +83 for Mn, whose magnetic alpha phase has no small
cousin; it moves a compound's formation energy by minus the atom share of the
element times that offset."""


def h2_in_a_box(box: float) -> Structure:
    """Return one H2 molecule in a cubic box of edge ``box`` angstrom."""
    half = H2_BOND / 2 / box
    return Structure(
        Lattice.cubic(box),
        ["H", "H"],
        [[0.5, 0.5, 0.5 - half], [0.5, 0.5, 0.5 + half]],
    )


def reference_setup(
    element: str,
    references: Mapping[str, ElementalReference],
    settings: DftSettings,
) -> ReferenceSetup:
    """Return how an element's DFT reference is computed (pure).

    Parameters
    ----------
    element
        The element symbol.
    references
        The MP elemental references (``read_elemental_references``).
    settings
        The ``dft`` settings (``relax``, ``relax_cell``, ``hydrogen_reference``,
        ``molecule_box``).

    Returns
    -------
    ReferenceSetup
        The structure and how to treat it.

    Raises
    ------
    DftError
        If the element has no MP reference structure.
    """
    if element == "H" and settings.hydrogen_reference == "molecule":
        return ReferenceSetup(
            element="H",
            structure=h2_in_a_box(settings.molecule_box),
            molecule=True,
            relax=True,
            relax_cell=False,
            mp_id=None,
            mp_energy_per_atom=None,
            cell="molecule",
        )
    if element not in references:
        raise DftError(f"no MP reference structure for {element}")
    ref = references[element]
    structure = ref.structure.get_primitive_structure()
    standard = STANDARD_CELLS.get(element) if settings.small_reference_cells else None
    if standard is not None and len(standard[1]()) < len(structure):
        name, make = standard
        return ReferenceSetup(
            element=element,
            structure=make(),
            molecule=False,
            relax=settings.relax,
            relax_cell=settings.relax_cell,
            mp_id=None,
            mp_energy_per_atom=None,
            cell=name,
        )
    return ReferenceSetup(
        element=element,
        structure=structure,
        molecule=False,
        relax=settings.relax,
        relax_cell=settings.relax_cell and element != "H",
        mp_id=ref.mp_id,
        mp_energy_per_atom=ref.mp_energy_per_atom,
    )


def dft_formation_energy(
    structure: Structure, energy: float, references: Mapping[str, float]
) -> tuple[float, CorrectedEnergy]:
    """Return the MP2020-compatible formation energy of a DFT total energy.

    Parameters
    ----------
    structure
        The (final) structure.
    energy
        Its DFT total energy, eV.
    references
        Elemental reference energies per atom from the same code and settings.

    Returns
    -------
    e_form, corrected
        Formation energy (eV/atom) and the corrected energy it came from.
    """
    corrected = mp2020_corrected(structure, energy)
    e_form = formation_energy_per_atom(
        structure.composition, corrected.energy, references
    )
    return e_form, corrected


def squared_error(predicted: float | None, dft: float | None) -> float | None:
    """Return ``(predicted - dft)^2``, or None when either is unknown."""
    if predicted is None or dft is None:
        return None
    return (predicted - dft) ** 2
