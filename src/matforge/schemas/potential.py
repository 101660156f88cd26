"""Documents of the ML-potential stage: references, provenance, calibration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from matforge.schemas.common import BuildMeta, StructureType, content_hash, utcnow


def reference_id(potential: str, potential_version: str, element: str) -> str:
    """Return the id of an elemental reference of one potential version."""
    return f"{potential}:{content_hash(potential_version)[:8]}:{element}"


class ElementalRefDoc(BaseModel):
    """An element's reference energy per atom computed with one potential."""

    ref_id: str = Field(
        description="`potential:version-hash:element`; one document per element "
        "and potential version."
    )
    potential: str = Field(description="The potential's name (e.g. sevennet-0).")
    potential_version: str = Field(
        description="Package and model version of the potential."
    )
    element: str = Field(description="Element symbol.")
    energy_per_atom: float = Field(
        description="The potential's energy per atom of the relaxed reference, eV."
    )
    mp_energy_per_atom: float | None = Field(
        default=None,
        description="MP's uncorrected GGA energy per atom of the same structure, eV.",
    )
    mp_id: str | None = Field(
        default=None, description="Materials Project id of the reference structure."
    )
    structure: StructureType = Field(description="The relaxed reference structure.")
    relaxed: bool = Field(description="True when the structure was relaxed.")
    converged: bool = Field(description="True when the relaxation converged.")
    steps: int = Field(description="Optimiser steps taken.")
    note: str | None = Field(
        default=None,
        description="Why the energy is not that of a converged relaxation, if so.",
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When it was computed (UTC)."
    )


class ComputedProvenance(BaseModel):
    """How a computed hydride was made: parent, substitution and relaxation."""

    proposal_id: str = Field(
        description="Deterministic id of the proposal (parent and substitution)."
    )
    parent_id: str = Field(description="material_id of the parent hydride.")
    substitution: dict[str, str] = Field(
        description="Element replaced -> element put in its place."
    )
    probability: float | None = Field(
        default=None,
        description="pymatgen substitution probability of the ion pair(s).",
    )
    potential: str = Field(description="The potential's name.")
    potential_version: str = Field(description="Package and model version.")
    relaxed: bool = Field(description="True when the structure was relaxed.")
    converged: bool = Field(description="True when the relaxation converged.")
    steps: int = Field(description="Optimiser steps taken.")
    fmax: float = Field(description="Force threshold of the relaxation, eV/A.")
    energy_per_atom: float = Field(
        description="The potential's uncorrected energy per atom, eV."
    )
    correction_per_atom: float = Field(
        description="MP2020 correction added before the formation energy, eV/atom."
    )
    corrections: dict[str, float] = Field(
        default_factory=dict, description="Each MP2020 correction (eV, whole cell)."
    )


class CalibrationRow(BaseModel):
    """One compound of a calibration: the DFT and the ML formation energy."""

    material_id: str | None = Field(default=None, description="Entry id, if known.")
    formula: str = Field(description="Reduced formula.")
    dataset: str = Field(
        description="Where the DFT value comes from: seed (hydrides_seed) or "
        "mp_formulas (mp_metal_hydride_formulas.txt)."
    )
    dft: float = Field(description="DFT (MP2020-corrected) formation energy, eV/atom.")
    ml: float | None = Field(
        default=None, description="This pipeline's formation energy, eV/atom."
    )
    error: str | None = Field(
        default=None, description="Why the ML value is missing, if it is."
    )


class CalibrationStats(BaseModel):
    """Error statistics of one comparison."""

    dataset: str = Field(description="seed, mp_formulas or all.")
    n: int = Field(description="Compounds compared.")
    failed: int = Field(description="Compounds without an ML value.")
    mae: float | None = Field(default=None, description="Mean absolute error, eV/atom.")
    rmse: float | None = Field(default=None, description="Root mean square error.")
    mean_error: float | None = Field(
        default=None, description="Mean of ML - DFT (bias), eV/atom."
    )
    max_abs_error: float | None = Field(
        default=None, description="Largest absolute error, eV/atom."
    )


class CalibrationDoc(BaseModel):
    """The pipeline's formation energies against known DFT values."""

    calibration_id: str = Field(
        description="`potential:relaxed|static`: one per potential and mode."
    )
    potential: str = Field(description="The potential's name.")
    potential_version: str = Field(description="Package and model version.")
    relaxed: bool = Field(description="True when structures were relaxed first.")
    stats: list[CalibrationStats] = Field(description="Statistics per dataset.")
    rows: list[CalibrationRow] = Field(description="Every compound compared.")
    plot_blob: str | None = Field(
        default=None, description="blob_uuid of the parity plot PNG in the data store."
    )
    runtime_s: float = Field(description="Seconds the calibration took.")
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When it was made (UTC)."
    )

    def stat(self, dataset: str) -> CalibrationStats | None:
        """Return the statistics of one dataset."""
        return next((s for s in self.stats if s.dataset == dataset), None)

    def summary(self) -> dict[str, Any]:
        """Return what ``matforge dataset calibrate --json`` prints."""
        return {
            "calibration_id": self.calibration_id,
            "potential": self.potential,
            "potential_version": self.potential_version,
            "relaxed": self.relaxed,
            "stats": [s.model_dump() for s in self.stats],
            "plot_blob": self.plot_blob,
            "runtime_s": self.runtime_s,
        }
