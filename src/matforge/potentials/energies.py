"""ML energies on the Materials Project scale: formation energy and hull distance.

Pure (no store): the one place where a potential's result becomes an
MP2020-compatible formation energy and an energy above the hull, used by the
relax stage, the dataset expansion, the calibration, ``matforge energy`` and
``matforge ingest files --energies``. The recipe itself is
:mod:`matforge.core.formation`; the hull, of the Materials Project's competing
phases and the stored hydrides, :mod:`matforge.core.hull`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from matforge.core.formation import (
    CorrectedEnergy,
    formation_energy_per_atom,
    mp2020_corrected,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from matforge.core.hull import HullCalculator, HullResult
    from matforge.potentials.relax import RelaxResult


def ml_formation_energy(
    structure: Structure,
    energy: float,
    references: Mapping[str, float],
    apply_mp2020: bool = True,
) -> tuple[float, CorrectedEnergy]:
    """Return the MP2020-compatible formation energy of an ML energy.

    Parameters
    ----------
    structure
        The structure.
    energy
        The potential's total energy, eV.
    references
        The same potential's elemental reference energies per atom, eV.
    apply_mp2020
        Add the MP2020 corrections (False for a potential whose energies
        already hold them, such as CHGNet).

    Returns
    -------
    e_form, corrected
        Formation energy (eV/atom) and the corrected energy it was made from.
    """
    if apply_mp2020:
        corrected = mp2020_corrected(structure, energy)
    else:
        corrected = CorrectedEnergy(energy=energy, uncorrected=energy)
    e_form = formation_energy_per_atom(
        structure.composition, corrected.energy, references
    )
    return e_form, corrected


@dataclass
class EnergyRow:
    """The energies of one input structure."""

    input: str
    material_id: str | None
    formula: str
    result: RelaxResult
    formation_energy_per_atom: float | None = None
    e_above_hull: float | None = None
    correction_per_atom: float | None = None
    corrections: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    hull: HullResult | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return what ``matforge energy --json`` prints for the structure."""
        return {
            "input": self.input,
            "material_id": self.material_id,
            "formula": self.formula,
            "energy_per_atom": self.result.energy_per_atom,
            "formation_energy_per_atom": self.formation_energy_per_atom,
            "e_above_hull": self.e_above_hull,
            "stable": self.hull.stable if self.hull else None,
            "decomposition": [
                {"id": d.id, "formula": d.formula, "fraction": d.fraction}
                for d in self.hull.decomposition
            ]
            if self.hull
            else None,
            "potential": self.result.potential,
            "potential_version": self.result.potential_version,
            "relaxed": self.result.relaxed,
            "converged": self.result.converged,
            "steps": self.result.steps,
            "correction_per_atom": self.correction_per_atom,
            "error": self.error,
        }


def energies_of(
    results: Sequence[RelaxResult],
    references: Mapping[str, float],
    hull: HullCalculator,
    labels: Sequence[tuple[str, str | None]],
    apply_mp2020: bool = True,
) -> list[EnergyRow]:
    """Turn potential results into formation energies and hull distances (pure).

    Parameters
    ----------
    results
        The potential's results.
    references
        Elemental reference energies of the same potential.
    hull
        The competing phases' hull (the result's material id, when it is one
        of the phases, is left out).
    labels
        (input, material_id) of every result.
    apply_mp2020
        Add the MP2020 corrections to the potential's energies.

    Returns
    -------
    list of EnergyRow
        One per result; failed ones keep their reason in ``error``.
    """
    rows = []
    for result, (label, material_id) in zip(results, labels, strict=True):
        row = EnergyRow(
            input=label,
            material_id=material_id,
            formula=result.structure.composition.reduced_formula,
            result=result,
            error=result.error,
        )
        if result.energy is not None and result.error is None:
            try:
                e_form, corrected = ml_formation_energy(
                    result.structure, result.energy, references, apply_mp2020
                )
            except KeyError as exc:
                row.error = str(exc.args[0])
            else:
                natoms = len(result.structure)
                row.formation_energy_per_atom = e_form
                row.correction_per_atom = corrected.correction / natoms
                row.corrections = corrected.corrections
                if not corrected.compatible:
                    row.error = "MP2020 scheme refused the entry; uncorrected"
                try:
                    row.hull = hull.assess(
                        result.structure.composition, e_form, entry_id=material_id
                    )
                except ValueError as exc:
                    row.error = f"no hull distance: {exc}"
                else:
                    row.e_above_hull = row.hull.e_above_hull
        rows.append(row)
    return rows
