"""The reference phases: competing phases of every hull, on the MP2020 scale."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.core import Composition

from matforge.core.hull import Phase, chemsys_of
from matforge.core.phases import LEGACY, MP2020, legacy_to_mp2020_shift
from matforge.schemas.common import BuildMeta, content_hash, utcnow

PhaseSource = Literal["mp-offline", "mp-api", "hydrides", "ml-potential"]
"""Where a phase comes from: the offline file, the Materials Project API, the
stored hydrides, or a known material (an MP binary of the references) that the
offline file lacks, priced with the ML potential."""


class HullProduct(BaseModel):
    """One phase a crystal decomposes into on the hull of its system."""

    id: str = Field(
        description="The phase's id (an MP id, a hydride's material id, or "
        "`element:X` for an element at 0 eV/atom)."
    )
    formula: str = Field(description="Its reduced formula.")
    fraction: float = Field(
        ge=0, le=1, description="The share of the crystal's atoms that goes into it."
    )


class PhaseDoc(BaseModel):
    """A competing phase: a composition and its formation energy per atom.

    ``formation_energy_per_atom`` is on the MP2020 scale (the scale of every
    hull); ``formation_energy_per_atom_published`` is the value as the source
    gave it, with ``published_scheme`` its correction scheme. An offline entry
    whose move to MP2020 is not reliable keeps its published value and no
    ``formation_energy_per_atom``: it is known (novelty), not a hull phase.
    """

    phase_id: str = Field(
        description="Unique key: the source and the id, e.g. mp-offline:mp-24726."
    )
    material_id: str = Field(
        description="The source's id: an MP id (mp-24726) or a hydride's id."
    )
    source: PhaseSource = Field(
        description="Where it comes from: mp-offline (the offline snapshot of MP "
        "compositions), mp-api (the Materials Project API), hydrides (the "
        "stored hydrides) or ml-potential (an MP structure the offline snapshot "
        "has no energy for, relaxed and priced with the ML potential)."
    )
    formula: str = Field(
        description="Formula as the source gives it; the offline file gives "
        "reduced formulas only (no Z), mp-api and hydrides the cell's formula."
    )
    reduced_formula: str = Field(description="Reduced formula, e.g. TiH2.")
    composition: dict[str, float] = Field(
        description="Element symbol to amount, as in `formula`."
    )
    chemsys: str = Field(description="Chemical system: sorted elements joined by '-'.")
    elements: list[str] = Field(description="Element symbols, sorted.")
    nelements: int = Field(ge=1, description="Number of elements.")
    formation_energy_per_atom: float | None = Field(
        default=None,
        description="Formation energy per atom on the MP2020 scale, eV/atom, the "
        "value every hull uses; None when the published value cannot be moved "
        "to MP2020 reliably (see `excluded_reason`).",
    )
    correction_scheme: str = Field(
        default=MP2020,
        description="Correction scheme of `formation_energy_per_atom` (MP2020).",
    )
    formation_energy_per_atom_published: float = Field(
        description="The formation energy per atom as the source gives it, eV/atom."
    )
    published_scheme: str = Field(
        description="Correction scheme of the published value: MP legacy "
        "(MaterialsProjectCompatibility) for the offline file, MP2020 for mp-api "
        "and the hydrides."
    )
    scale_shift: float = Field(
        default=0.0,
        description="eV/atom added to the published value to put it on the "
        "MP2020 scale (0 for an MP2020 source).",
    )
    scale_shift_terms: dict[str, float] = Field(
        default_factory=dict,
        description="The parts of `scale_shift`, eV/atom, by name (gas H, oxide, "
        "sulfide, anion F, U Fe).",
    )
    scale_uncertainty: float = Field(
        default=0.0,
        ge=0,
        description="Largest error of the move, eV/atom, from the choices a "
        "composition cannot make (sulfide or sulfate, anion or not).",
    )
    excluded_reason: str | None = Field(
        default=None,
        description="Why the phase is left out of the hulls, when it is.",
    )
    content_hash: str = Field(
        description="Hash of the content; an unchanged reload is not rewritten."
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta,
        description="How the document was made: versions, input, settings, date.",
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the content last changed (UTC)."
    )

    @property
    def usable(self) -> bool:
        """Whether the phase takes part in hulls."""
        return self.formation_energy_per_atom is not None

    def as_phase(self) -> Phase:
        """Return the hull's phase (:class:`matforge.core.hull.Phase`).

        Raises
        ------
        ValueError
            If the phase is excluded from the hulls.
        """
        if self.formation_energy_per_atom is None:
            raise ValueError(
                f"phase {self.phase_id} is not on the MP2020 scale: "
                f"{self.excluded_reason}"
            )
        return Phase(
            id=self.material_id,
            composition=Composition(self.composition),
            e_form=self.formation_energy_per_atom,
            source=self.source,
        )

    @classmethod
    def _make(
        cls,
        material_id: str,
        source: PhaseSource,
        composition: Composition,
        published: float,
        published_scheme: str,
        build: BuildMeta | None,
        **moved: object,
    ) -> PhaseDoc:
        if not math.isfinite(published):
            raise ValueError(
                f"formation energy {published} of {material_id} is not finite"
            )
        elements = sorted(el.symbol for el in composition.elements)
        payload = {
            "phase_id": f"{source}:{material_id}",
            "material_id": material_id,
            "source": source,
            "formula": composition.formula.replace(" ", ""),
            "reduced_formula": composition.reduced_formula,
            "composition": {el.symbol: float(n) for el, n in composition.items()},
            "chemsys": chemsys_of(composition),
            "elements": elements,
            "nelements": len(elements),
            "formation_energy_per_atom_published": float(published),
            "published_scheme": published_scheme,
            **moved,
        }
        return cls(
            **payload,
            content_hash=content_hash(payload),
            build=build or BuildMeta(),
        )

    @classmethod
    def from_legacy(
        cls,
        material_id: str,
        composition: Composition,
        formation_energy_per_atom: float,
        gas_references: Mapping[str, float],
        build: BuildMeta | None = None,
    ) -> PhaseDoc:
        """Build an offline (legacy-corrected) phase, moved to the MP2020 scale.

        Parameters
        ----------
        material_id
            Its MP id.
        composition
            Its composition.
        formation_energy_per_atom
            The published formation energy, MP legacy corrections, eV/atom.
        gas_references
            MP's raw GGA energies per atom of H, N, F, Cl
            (:func:`matforge.core.phases.legacy_to_mp2020_shift`).
        build
            Build metadata (one object may be shared by a whole load).
        """
        move = legacy_to_mp2020_shift(composition, gas_references)
        value = float(formation_energy_per_atom)
        return cls._make(
            material_id,
            "mp-offline",
            composition,
            value,
            LEGACY,
            build,
            formation_energy_per_atom=value + move.shift if move.reliable else None,
            scale_shift=move.shift,
            scale_shift_terms=dict(move.terms),
            scale_uncertainty=move.uncertainty,
            excluded_reason=None
            if move.reliable
            else f"not movable to MP2020 from the composition: {move.reason}",
        )

    @classmethod
    def from_mp2020(
        cls,
        material_id: str,
        composition: Composition,
        formation_energy_per_atom: float,
        source: PhaseSource,
        build: BuildMeta | None = None,
    ) -> PhaseDoc:
        """Build a phase whose formation energy is already on the MP2020 scale.

        Parameters
        ----------
        material_id
            Its id (an MP id for mp-api, the material id of a hydride).
        composition
            Its composition (the cell's).
        formation_energy_per_atom
            Its MP2020 formation energy, eV/atom.
        source
            ``mp-api`` or ``hydrides``.
        build
            Build metadata.
        """
        value = float(formation_energy_per_atom)
        return cls._make(
            material_id,
            source,
            composition,
            value,
            MP2020,
            build,
            formation_energy_per_atom=value,
        )
