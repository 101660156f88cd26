"""Formation energies and energies above the hull on the Materials Project scale.

Pure: the recipe shared by ML-potential energies (:mod:`matforge.potentials`)
and DFT energies (:mod:`matforge.dft`); plain values in, plain values out.

How an ML energy is made comparable to a Materials Project formation energy
---------------------------------------------------------------------------
MP's published ``formation_energy_per_atom`` is made from GGA / GGA+U total
energies with the MP2020 compatibility scheme and MP's elemental references.
The universal potentials here learned MPtrj, MP's relaxation trajectories:
SevenNet the *uncorrected* GGA(+U) energies, CHGNet the MP2020-*corrected*
ones. We repeat MP's recipe with the potential's energies:

1. ``E_ML``: the potential's total energy of the (relaxed or given) structure.
2. MP2020 corrections, for potentials that learned uncorrected energies
   (``PotentialSpec.apply_mp2020``; not for CHGNet, whose energies already
   hold them: adding them again shifts its formation energies by about
   -0.29 eV/atom on the seed set). ``E_ML`` goes into a
   ``ComputedStructureEntry`` with the run parameters MP would have used
   (Matbench Discovery's convention for ML energies): ``GGA+U`` with MP's U
   values (``MPRelaxSet``) when the most electronegative element is O or F
   and a U element (Co, Cr, Fe, Mn, Mo, Ni, V, W) is present, plain ``GGA``
   otherwise. pymatgen's ``MaterialsProject2020Compatibility(check_potcar=
   False)`` then adds the anion corrections (H when hydrogen is the most
   electronegative element, i.e. in a hydride: -0.179 eV per H; oxide, N, S,
   F, ...) and, for GGA+U entries, the U-element energy shifts. An entry the
   scheme refuses keeps its uncorrected energy and is flagged.
3. Elemental references ``mu_el``: each element's lowest-energy MP structure
   (``mp_elemental_references.json.gz``; for H the molecular H2 crystal)
   relaxed with the *same* potential and cached per potential version. MP2020
   makes no correction to elements.
4. ``E_form = (E_corrected - sum_el n_el mu_el) / N``, eV/atom: errors of the
   potential common to the compound and its elements cancel.

The energy above the hull of such a formation energy is
:mod:`matforge.core.hull`'s: against the Materials Project's competing phases
(moved to the MP2020 scale, :mod:`matforge.core.phases`) and the stored
hydrides.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pymatgen.core import Composition, Element, Structure

U_ANIONS = ("O", "F")


@dataclass(frozen=True)
class ElementalReference:
    """An element's Materials Project reference structure."""

    element: str
    structure: Structure
    mp_energy_per_atom: float
    mp_id: str | None


@cache
def _mp_u_values() -> dict[str, dict[str, float]]:
    from pymatgen.io.vasp.sets import MPRelaxSet

    return {
        anion: dict(values)
        for anion, values in MPRelaxSet.CONFIG["INCAR"]["LDAUU"].items()
    }


def mp2020_parameters(composition: Composition) -> dict[str, Any]:
    """Return the run parameters MP would have used for a composition.

    Parameters
    ----------
    composition
        The compound.

    Returns
    -------
    dict
        ``run_type`` (GGA or GGA+U), ``is_hubbard`` and ``hubbards`` (MP's U
        values of the U elements present, for O / F compounds).
    """
    elements = sorted(composition.elements, key=lambda e: e.X)
    anion = elements[-1].symbol if elements else ""
    u_values = _mp_u_values().get(anion, {}) if anion in U_ANIONS else {}
    hubbards = {
        el.symbol: u_values[el.symbol] for el in elements if el.symbol in u_values
    }
    if hubbards:
        return {"run_type": "GGA+U", "is_hubbard": True, "hubbards": hubbards}
    return {"run_type": "GGA", "is_hubbard": False, "hubbards": {}}


@dataclass(frozen=True)
class CorrectedEnergy:
    """An ML total energy with the MP2020 corrections added."""

    energy: float
    uncorrected: float
    corrections: dict[str, float] = field(default_factory=dict)
    compatible: bool = True
    run_type: str = "GGA"

    @property
    def correction(self) -> float:
        """The total correction, eV."""
        return self.energy - self.uncorrected


@cache
def _compatibility() -> Any:
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=False)


def mp2020_corrected(structure: Structure, energy: float) -> CorrectedEnergy:
    """Add the MP2020 corrections to a potential's total energy.

    Parameters
    ----------
    structure
        The structure the energy belongs to.
    energy
        The potential's total energy (eV), uncorrected MP GGA scale.

    Returns
    -------
    CorrectedEnergy
        Corrected energy and each correction; ``compatible`` is False (and the
        energy uncorrected) when the scheme refuses the entry.
    """
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    params = mp2020_parameters(structure.composition)
    entry = ComputedStructureEntry(structure, energy, parameters=params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processed = _compatibility().process_entry(entry, clean=True)
    if processed is None:
        return CorrectedEnergy(
            energy=energy,
            uncorrected=energy,
            compatible=False,
            run_type=params["run_type"],
        )
    return CorrectedEnergy(
        energy=float(processed.energy),
        uncorrected=energy,
        corrections={a.name: float(a.value) for a in processed.energy_adjustments},
        run_type=params["run_type"],
    )


def formation_energy_per_atom(
    composition: Composition, energy: float, references: Mapping[str, float]
) -> float:
    """Return the formation energy per atom from a total energy.

    Parameters
    ----------
    composition
        The compound's composition (of the cell the energy belongs to).
    energy
        Its total energy, eV (corrected).
    references
        Element symbol to reference energy per atom, eV.

    Returns
    -------
    float
        ``(E - sum n_el mu_el) / N`` in eV/atom.

    Raises
    ------
    KeyError
        If an element has no reference.
    """
    missing = [el.symbol for el in composition if el.symbol not in references]
    if missing:
        raise KeyError(f"no elemental reference energy for {', '.join(missing)}")
    reference = sum(amt * references[el.symbol] for el, amt in composition.items())
    return (energy - reference) / composition.num_atoms


def needed_elements(structures: Iterable[Structure]) -> list[str]:
    """Return the sorted element symbols of some structures."""
    found: set[str] = set()
    for structure in structures:
        found |= {el.symbol for el in structure.composition.elements}
    return sorted(found, key=lambda s: Element(s).Z)
