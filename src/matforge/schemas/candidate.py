"""The candidates collection: relaxed crystals judged, deduplicated and flagged.

One document per relaxed document (``candidate_id`` is its ``relaxed_id``), so
that every relaxation has its verdict: ``candidate`` (valid, and the
representative of its group of duplicates), ``duplicate`` (valid, but the same
crystal as ``duplicate_of``) or ``invalid`` (with the ``reasons``). The ranked
table is the ``candidate`` documents, highest storage score first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from matforge.schemas.common import BuildMeta, StructureType, content_hash, utcnow
from matforge.schemas.phase import HullProduct

Status = Literal["candidate", "duplicate", "invalid"]


def stamp(value: datetime) -> datetime:
    """Return a time as the databases keep it: UTC, whole milliseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# Fields left out of the content hash: they change without the content changing.
_UNHASHED = {"content_hash", "build", "last_updated"}


class CandidateDoc(BaseModel):
    """The verdict on one relaxed crystal: validity, duplicates, novelty, score."""

    candidate_id: str = Field(description="Unique id, equal to the relaxed_id.")
    relaxed_id: str = Field(description="Id of the source relaxed document.")
    generated_id: str = Field(description="Id of the generated parent crystal.")
    run_id: str | None = Field(
        default=None, description="The generation or relaxation run, if any."
    )
    status: Status = Field(
        description="candidate (valid, representative of its duplicates), duplicate "
        "(valid, same crystal as duplicate_of) or invalid (see reasons)."
    )
    reasons: list[str] = Field(
        default_factory=list, description="Why the crystal is invalid (empty if valid)."
    )
    duplicate_of: str | None = Field(
        default=None,
        description="For a duplicate: the candidate_id of its group's representative.",
    )
    structure: StructureType | None = Field(
        default=None,
        description="The relaxed crystal (None when the relaxation failed).",
    )
    formula: str = Field(description="Full formula of the cell, e.g. Ti2H4.")
    reduced_formula: str = Field(description="Reduced formula, e.g. TiH2.")
    elements: list[str] = Field(description="Element symbols, sorted.")
    nsites: int = Field(description="Number of sites in the cell.")
    reduced_nsites: int | None = Field(
        default=None,
        description="Sites of the cell the structure matcher compares (Niggli, "
        "primitive): with the reduced formula, the bucket of the duplicate search.",
    )
    spacegroup_symbol: str | None = Field(
        default=None, description="Hermann-Mauguin symbol of the relaxed crystal."
    )
    spacegroup_number: int | None = Field(
        default=None, description="International space-group number (1-230)."
    )
    formation_energy_per_atom: float | None = Field(
        default=None,
        description="Predicted formation energy (ML potential), eV/atom.",
    )
    formation_energy_dft_per_atom: float | None = Field(
        default=None,
        description="DFT formation energy, eV/atom; None until validated.",
    )
    squared_error: float | None = Field(
        default=None,
        description="(predicted - DFT formation energy)^2, (eV/atom)^2; None until "
        "validated.",
    )
    e_above_hull_dft: float | None = Field(
        default=None,
        description="DFT energy above the hull of the same competing phases, "
        "eV/atom (from the DFT validation).",
    )
    dft_task_id: str | None = Field(
        default=None,
        description="The dft_tasks document the DFT formation energy comes from "
        "(the latest successful validation of this relaxed crystal).",
    )
    e_above_hull: float | None = Field(
        default=None,
        description="Predicted energy above the hull of the Materials Project's "
        "competing phases and the stored hydrides, eV/atom.",
    )
    decomposition: list[HullProduct] | None = Field(
        default=None,
        description="The hull phases at the crystal's composition, largest share "
        "first (what it would decompose into).",
    )
    h_weight_fraction: float = Field(description="Hydrogen mass fraction (0-1).")
    storage_score: float | None = Field(
        default=None,
        description="Hydrogen Storage Score from the predicted formation energy and "
        "the score settings; None when that energy is unknown.",
    )
    potential: str = Field(description="The ML potential of the relaxation.")
    converged: bool = Field(description="Whether the relaxation converged.")
    matched_id: str | None = Field(
        default=None,
        description="A known material that is the same crystal (structure match), "
        "the paper's known id; None when the crystal is new.",
    )
    matched_ids: list[str] = Field(
        default_factory=list, description="Every known material that matches."
    )
    reference_id: str | None = Field(
        default=None,
        description="The known material the paper's MP-id column names: the "
        "structural match, else the first known material (stored crystal, "
        "reference or Materials Project composition) of this reduced formula; None "
        "when no known material has it.",
    )
    same_formula: bool = Field(
        description="The reference material (`matched_id`, else the first known "
        "material of this reduced formula) has exactly this cell formula, Z "
        "included, as the paper's same-formula column."
    )
    same_ratio: bool = Field(description="A known material has this reduced formula.")
    known_ids_same_formula: list[str] = Field(
        default_factory=list, description="Known materials with this cell formula."
    )
    known_ids_same_ratio: list[str] = Field(
        default_factory=list, description="Known materials with this reduced formula."
    )
    is_novel: bool = Field(description="No known material is the same crystal.")
    is_stable: bool | None = Field(
        default=None,
        description="On or below the hull within `candidates.stable_e_above_hull`; "
        "None when unknown.",
    )
    is_metastable: bool | None = Field(
        default=None,
        description="Above the stable tolerance but within "
        "`candidates.max_e_above_hull`; None when unknown.",
    )
    relaxed_last_updated: datetime = Field(
        description="last_updated of the relaxed document this verdict was made "
        "from; a newer one is processed again."
    )
    known_signature: str = Field(
        description="Hash of the known materials of this reduced formula (ids and "
        "dates) the novelty was judged against; a change re-judges it."
    )
    settings_hash: str = Field(
        description="Hash of the settings that shaped the verdict; a change "
        "re-judges every document."
    )
    content_hash: str = Field(
        default="",
        description="Hash of the content; an unchanged rebuild is not rewritten.",
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the content last changed (UTC)."
    )

    @field_validator("relaxed_last_updated")
    @classmethod
    def _as_stored(cls, value: datetime) -> datetime:
        return stamp(value)

    def with_hash(self) -> CandidateDoc:
        """Return this document with its content hash filled in."""
        payload: dict[str, Any] = self.model_dump(mode="json", exclude=_UNHASHED)
        return self.model_copy(update={"content_hash": content_hash(payload)})
