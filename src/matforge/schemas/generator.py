"""The models and generated collections: generator checkpoints and candidates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from matforge.schemas.common import BuildMeta, StructureType, utcnow


class ModelDoc(BaseModel):
    """A trained generator: where its bytes are, how it was trained, its metrics."""

    model_id: str = Field(description="Unique id of the trained model, `cdvae-...`.")
    kind: str = Field(default="cdvae", description="Model family.")
    run_id: str | None = Field(
        default=None, description="The campaign that trained it, if any."
    )
    config: dict[str, Any] = Field(
        description="The model's constructor arguments (rebuild it from these)."
    )
    normalisers: dict[str, Any] = Field(
        description="Lattice and storage-score normalisers and the element vocabulary, "
        "fitted on the train split."
    )
    checkpoint_blob: str = Field(
        description="Key (blob_uuid) of the checkpoint bytes in the data store."
    )
    history_blob: str = Field(
        description="Key (blob_uuid) of the training history and split JSON in the "
        "data store."
    )
    split_seed: int = Field(description="Seed of the train/val/test split.")
    split_sizes: dict[str, int] = Field(
        description="Number of crystals in train, val and test."
    )
    split: dict[str, list[str]] = Field(
        description="Material ids of the train, val and test crystals."
    )
    training: dict[str, Any] = Field(
        description="Training settings and outcome: epochs, best epoch, best "
        "validation loss, seconds, device, seed."
    )
    metrics: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="The last metrics table of this model per sampling mode "
        "(`unguided`, `guided`).",
    )
    diagnostics: dict[str, Any] | None = Field(
        default=None,
        description="Reconstruction of training and test crystals with predicted "
        "and with forced atom counts and compositions, the coverage of the test "
        "split by the training split (the ceiling of COV-R / COV-P) and both "
        "splits' SMACT rates, with the sampling settings and seed they used.",
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the document last changed (UTC)."
    )


class GeneratedDoc(BaseModel):
    """One candidate crystal proposed by a generator."""

    generated_id: str = Field(
        description="Unique id: `gen-` and a hash of model, seed, settings and index."
    )
    model_id: str = Field(description="The model that proposed the crystal.")
    run_id: str | None = Field(
        default=None, description="The campaign that proposed it, if any."
    )
    structure: StructureType = Field(description="The candidate crystal.")
    cif: str = Field(description="The crystal as CIF text.")
    formula: str = Field(description="Full formula of the cell.")
    reduced_formula: str = Field(description="Reduced formula.")
    nsites: int = Field(description="Number of sites in the cell.")
    z: list[float] = Field(
        description="The latent vector the crystal was decoded from."
    )
    predicted_storage_score: float = Field(
        description="Storage score predicted by the model's property head from z."
    )
    seed: int = Field(description="Seed of the sampling run.")
    index: int = Field(description="Position of the crystal within its sampling run.")
    sampling: dict[str, Any] = Field(
        description="Sampling settings: steps per level, step size, guidance."
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the document was made (UTC)."
    )
