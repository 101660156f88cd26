"""DFT results -> ``dft_tasks`` documents, with formation energies (pure).

The settings hash says which tasks can be compared: a formation energy is
only ever taken against references with the same hash, and a candidate
validated once with a hash is not computed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from matforge.dft.formation import dft_formation_energy
from matforge.schemas.common import BuildMeta, content_hash
from matforge.schemas.dft import DftTaskDoc, ReferenceUse, dft_task_id

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from matforge.dft.runner import DftCalcResult
    from matforge.settings import DftSettings

# The settings that shape a GPAW energy (not how or where it runs).
_GPAW_KEYS = (
    "ecut",
    "kpoint_density",
    "smearing_width",
    "spin_polarized",
    "relax",
    "relax_cell",
    "fmax",
    "optimizer",
    "hydrogen_reference",
    "molecule_box",
)


def settings_key(settings: DftSettings, code_version: str) -> dict[str, Any]:
    """Return what shapes the energies of the settings' code (pure).

    Parameters
    ----------
    settings
        The ``dft`` settings.
    code_version
        The DFT code's version (GPAW's package version; for VASP the atomate2
        version that writes the MP input sets).
    """
    if settings.code == "vasp":
        return {
            "code": "vasp",
            "version": code_version,
            "workflow": "MPGGADoubleRelaxStatic",
        }
    key: dict[str, Any] = {"code": "gpaw", "version": code_version}
    key |= {name: getattr(settings, name) for name in _GPAW_KEYS}
    return key


def settings_hash(settings: DftSettings, code_version: str) -> str:
    """Return the hash of :func:`settings_key` (16 hex digits)."""
    return content_hash(settings_key(settings, code_version))[:16]


def structure_hash(structure: Structure) -> str:
    """Return a hash of a structure (its dict), for task ids."""
    return content_hash(structure.as_dict())[:16]


def candidate_task_id(hash_: str, relaxed_id: str, structure: Structure) -> str:
    """Return the task id of a candidate's validation with some settings."""
    return dft_task_id(hash_, "candidate", f"{relaxed_id}:{structure_hash(structure)}")


def reference_task_id(hash_: str, element: str) -> str:
    """Return the task id of an element's reference with some settings."""
    return dft_task_id(hash_, "reference", element)


def benchmark_task_id(hash_: str, material_id: str) -> str:
    """Return the task id of a known compound computed as a benchmark."""
    return dft_task_id(hash_, "benchmark", material_id)


def _composition_fields(structure: Structure) -> dict[str, Any]:
    comp = structure.composition
    return {
        "formula": comp.formula.replace(" ", ""),
        "reduced_formula": comp.reduced_formula,
        "nsites": len(structure),
    }


def task_document(
    result: DftCalcResult,
    *,
    task_id: str,
    purpose: str,
    code: str,
    code_version: str,
    hash_: str,
    input_structure: Structure,
    relaxed: bool,
    references: Mapping[str, ReferenceUse] | None = None,
    predicted: float | None = None,
    candidate_id: str | None = None,
    relaxed_id: str | None = None,
    element: str | None = None,
    material_id: str | None = None,
    mp_energy_per_atom: float | None = None,
    build: BuildMeta | None = None,
) -> DftTaskDoc:
    """Return the ``dft_tasks`` document of a result (pure).

    A compound's formation energy is filled in when ``references`` hold every
    element; a failed calculation, or a missing reference, gives a failed
    task with the reason. A relaxation that ran out of steps keeps the energy
    of its last step and says so in ``error`` (the task is still successful).

    Parameters
    ----------
    result
        The calculation's result.
    task_id, purpose, code, code_version, hash_
        Identity of the task.
    input_structure
        The structure computed.
    relaxed
        Whether DFT relaxed it.
    references
        Element -> reference used, for compounds.
    predicted
        The ML prediction (candidate) or MP value (benchmark), eV/atom.
    candidate_id, relaxed_id, element, material_id, mp_energy_per_atom
        What the task is about.
    build
        Build metadata; a fresh one when None.

    Returns
    -------
    DftTaskDoc
        The document.
    """
    fields: dict[str, Any] = {
        "task_id": task_id,
        "purpose": purpose,
        "code": code,
        "code_version": code_version,
        "settings_hash": hash_,
        "parameters": result.parameters,
        "candidate_id": candidate_id,
        "relaxed_id": relaxed_id,
        "element": element,
        "material_id": material_id,
        "input_structure": input_structure,
        "relaxed": relaxed,
        "converged": result.converged,
        "steps": result.steps,
        "predicted_formation_energy_per_atom": predicted,
        "mp_energy_per_atom": mp_energy_per_atom,
        "nprocs": result.nprocs,
        "seconds": result.seconds,
        "workdir": result.workdir,
        "task_doc": result.task_doc,
        "build": build or BuildMeta(inputs=["dft"]),
        **_composition_fields(input_structure),
    }
    if not result.ok or result.energy is None or result.structure is None:
        return DftTaskDoc(state="failed", error=result.error, **fields)
    fields |= {
        "structure": result.structure,
        "energy": result.energy,
        "energy_per_atom": result.energy / len(result.structure),
    }
    notes = []
    if not result.converged:
        notes.append(
            f"relaxation not converged in {result.steps} steps: energy of the last"
        )
    if purpose == "reference":
        return DftTaskDoc(state="successful", error="; ".join(notes) or None, **fields)
    refs = dict(references or {})
    missing = [
        el.symbol for el in result.structure.composition if el.symbol not in refs
    ]
    if missing:
        return DftTaskDoc(
            state="failed",
            error=f"no reference energy for {', '.join(missing)}",
            **fields,
        )
    used = {el.symbol: refs[el.symbol] for el in result.structure.composition}
    e_form, corrected = dft_formation_energy(
        result.structure,
        result.energy,
        {el: ref.energy_per_atom for el, ref in used.items()},
    )
    if not corrected.compatible:
        notes.append("MP2020 refused the entry; formation energy uncorrected")
    return DftTaskDoc(
        state="successful",
        corrected_energy=corrected.energy,
        corrections=corrected.corrections,
        formation_energy_per_atom=e_form,
        references=used,
        error="; ".join(notes) or None,
        **fields,
    )
