"""The references collection: known materials, for novelty checks only."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from matforge.schemas.common import StructureType, content_hash, utcnow


class ReferenceDoc(BaseModel):
    """A known material: just enough to tell whether a candidate is new."""

    material_id: str = Field(description="The source's id, e.g. mp-1077482.")
    formula: str = Field(
        description="Full formula of the stored cell, e.g. Ti1H2 (Z included)."
    )
    reduced_formula: str = Field(description="Reduced formula, e.g. TiH2.")
    structure: StructureType = Field(description="The crystal (pymatgen Structure).")
    source: str = Field(
        description="Where it comes from: the offline file or the Materials Project."
    )
    content_hash: str = Field(
        description="Hash of the content; an unchanged reload is not rewritten."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the content last changed (UTC)."
    )

    @classmethod
    def from_structure(
        cls, material_id: str, structure: Structure, source: str
    ) -> ReferenceDoc:
        """Build the document of a known material from its structure."""
        comp = structure.composition
        return cls(
            material_id=material_id,
            formula=comp.formula.replace(" ", ""),
            reduced_formula=comp.reduced_formula,
            structure=structure,
            source=source,
            content_hash=content_hash([material_id, source, structure.as_dict()]),
        )
