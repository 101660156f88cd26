"""The dft_tasks collection: one DFT calculation and its formation energy.

A task is an elemental reference (``purpose = "reference"``), the validation
of a candidate (``"candidate"``: ``relaxed_id`` names it) or a known compound
computed to check the method (``"benchmark"``). Its id is derived from the
settings that shape the energy and from what was computed, so the same
calculation asked for again finds its document instead of running again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from matforge.schemas.common import BuildMeta, StructureType, content_hash, utcnow
from matforge.schemas.phase import HullProduct

Purpose = Literal["reference", "candidate", "benchmark"]
State = Literal["successful", "failed", "submitted"]


def dft_task_id(settings_hash: str, purpose: str, subject: str) -> str:
    """Return the id of a DFT task.

    Parameters
    ----------
    settings_hash
        Hash of the code and settings that shape the energy.
    purpose
        reference, candidate or benchmark.
    subject
        What is computed: the element of a reference, the relaxed id and
        structure hash of a candidate, the material id of a benchmark.
    """
    return f"dft-{content_hash([settings_hash, purpose, subject])[:16]}"


class ReferenceUse(BaseModel):
    """An elemental reference energy a formation energy was taken against."""

    task_id: str = Field(description="The reference's DFT task.")
    energy_per_atom: float = Field(description="Reference energy per atom, eV.")


class DftTaskDoc(BaseModel):
    """One DFT calculation: inputs, energies, formation energy, task document."""

    task_id: str = Field(description="Unique id (see `dft_task_id`).")
    purpose: Purpose = Field(
        description="reference (an element), candidate (validation of a candidate) "
        "or benchmark (a known compound)."
    )
    code: Literal["gpaw", "vasp"] = Field(description="The DFT code.")
    code_version: str = Field(description="Version of the DFT code.")
    settings_hash: str = Field(
        description="Hash of the code and settings that shape the energy; tasks "
        "compare only within one hash."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The code's parameters (GPAW keyword arguments or VASP INCAR).",
    )
    state: State = Field(
        description="successful, failed, or submitted (a VASP workflow built for "
        "a cluster, not collected yet)."
    )
    error: str | None = Field(
        default=None,
        description="Why it failed; for a successful task, what to know about it "
        "(a relaxation that ran out of steps).",
    )
    candidate_id: str | None = Field(
        default=None, description="The candidate validated (purpose candidate)."
    )
    relaxed_id: str | None = Field(
        default=None,
        description="The relaxed document of the candidate: the builder's join key.",
    )
    element: str | None = Field(
        default=None, description="The element of a reference task."
    )
    material_id: str | None = Field(
        default=None,
        description="Known id of the structure (MP id of a reference or benchmark).",
    )
    formula: str = Field(description="Full formula of the cell, e.g. Ti2H4.")
    reduced_formula: str = Field(description="Reduced formula, e.g. TiH2.")
    nsites: int = Field(description="Sites in the cell.")
    input_structure: StructureType = Field(description="The structure computed.")
    structure: StructureType | None = Field(
        default=None, description="The final (DFT-relaxed) structure."
    )
    relaxed: bool = Field(description="True when DFT relaxed the structure.")
    converged: bool = Field(
        description="True when the relaxation reached its force criterion (always "
        "for a single point)."
    )
    steps: int = Field(default=0, description="Relaxation steps taken.")
    energy: float | None = Field(
        default=None, description="DFT total energy of the final structure, eV."
    )
    energy_per_atom: float | None = Field(
        default=None, description="DFT total energy per atom, eV."
    )
    corrected_energy: float | None = Field(
        default=None, description="Energy with the MP2020 corrections, eV."
    )
    corrections: dict[str, float] = Field(
        default_factory=dict, description="Each MP2020 correction, eV (whole cell)."
    )
    formation_energy_per_atom: float | None = Field(
        default=None,
        description="DFT formation energy on the MP2020 scale, eV/atom (compounds).",
    )
    e_above_hull: float | None = Field(
        default=None,
        description="DFT energy above the hull of the same competing phases as the "
        "ML prediction (Materials Project, MP2020 scale, and the stored hydrides), "
        "eV/atom; compounds only.",
    )
    decomposition: list[HullProduct] | None = Field(
        default=None,
        description="The hull phases at the compound's composition, with the DFT "
        "energy.",
    )
    predicted_formation_energy_per_atom: float | None = Field(
        default=None,
        description="The ML prediction it validates (candidate) or MP's value it "
        "checks (benchmark), eV/atom.",
    )
    references: dict[str, ReferenceUse] = Field(
        default_factory=dict,
        description="Element -> the reference the formation energy was taken against.",
    )
    mp_energy_per_atom: float | None = Field(
        default=None,
        description="MP's uncorrected GGA energy per atom of a reference structure.",
    )
    nprocs: int = Field(default=1, description="MPI processes used.")
    seconds: float = Field(default=0.0, description="Wall time of the calculation.")
    workdir: str | None = Field(
        default=None, description="Working folder (logs, inputs), where kept."
    )
    task_doc: dict[str, Any] | None = Field(
        default=None,
        description="atomate2's task document (AseStructureTaskDoc for GPAW, "
        "TaskDoc for VASP), as a dict.",
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When it was computed (UTC)."
    )
