"""The hydrides collection: one ordered metal-hydride crystal per document."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from matforge.core.features import analyse_symmetry, hydride_features
from matforge.core.score import energy_factor
from matforge.schemas.common import BuildMeta, StructureType, content_hash, utcnow
from matforge.schemas.features import HydrideFeatures
from matforge.schemas.potential import ComputedProvenance
from matforge.settings import ScoreSettings

_SCORE = ScoreSettings()  # the score's defaults, defined in settings

if TYPE_CHECKING:
    from matforge.core.features import Symmetry


class HydrideDoc(BaseModel):
    """An ordered metal-hydride crystal with its energies, score and features."""

    material_id: str = Field(
        description="Unique id: the source's id (mp-..., wbm-...) or, for inputs "
        "without one, `mf-` and the structure fingerprint."
    )
    source: str = Field(
        description="Where the entry comes from: mp (Materials Project API), "
        "offline (the shipped snapshot), files, or computed."
    )
    origin: str = Field(
        description="The exact input: API endpoint, file path and record in it."
    )
    provenance: str | None = Field(
        default=None,
        description="The upstream data set as the input names it (e.g. "
        "'materials-project (MP-20 subset)').",
    )
    licence: str | None = Field(
        default=None, description="Licence of the source data (e.g. CC-BY-4.0)."
    )
    structure: StructureType = Field(
        description="The crystal (pymatgen Structure): its primitive cell, "
        "Niggli-reduced when the input cell was larger; an input that is already "
        "primitive is kept as written."
    )
    formula: str = Field(description="Full formula of the cell, e.g. Ti2H4.")
    reduced_formula: str = Field(description="Reduced formula, e.g. TiH2.")
    chemsys: str = Field(description="Chemical system, elements joined by '-'.")
    elements: list[str] = Field(description="Element symbols, sorted.")
    nelements: int = Field(description="Number of distinct elements.")
    nsites: int = Field(description="Number of sites in the stored (primitive) cell.")
    input_nsites: int | None = Field(
        default=None,
        description="Number of sites in the cell as the input wrote it (a "
        "conventional cell or supercell holds more than nsites); None for "
        "documents made before it was recorded.",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What reading the input changed or left out, for a person: "
        "deuterium or tritium read as hydrogen, oxidation states or velocities "
        "not kept, element names taken from a POSCAR's first line.",
    )
    formation_energy_per_atom: float | None = Field(
        default=None,
        description="Formation energy, eV/atom (MP2020-corrected GGA/GGA+U for "
        "Materials Project data); None when unknown.",
    )
    energy_source: str | None = Field(
        default=None,
        description="What the formation energy comes from (dataset, functional, "
        "potential).",
    )
    energy_potential: str | None = Field(
        default=None,
        description="The ML potential ('name version') that computed "
        "formation_energy_per_atom and e_above_hull at ingest (`--energies`); "
        "None when they come from the input or are unknown.",
    )
    e_above_hull: float | None = Field(
        default=None, description="Energy above the convex hull, eV/atom."
    )
    band_gap: float | None = Field(default=None, description="Band gap, eV.")
    spacegroup_number: int | None = Field(
        default=None, description="International space-group number from spglib."
    )
    spacegroup_symbol: str | None = Field(
        default=None, description="Hermann-Mauguin symbol from spglib."
    )
    crystal_system: str | None = Field(default=None, description="Crystal system.")
    h_weight_fraction: float = Field(description="Hydrogen mass fraction (0-1).")
    energy_factor: float | None = Field(
        default=None, description="Energy factor f(E_form) of the storage score."
    )
    storage_score: float | None = Field(
        default=None,
        description="Hydrogen Storage Score w_H * f(E_form); None when E_form is "
        "unknown.",
    )
    features: HydrideFeatures = Field(
        description="Feature vector for the causal stage."
    )
    computed: ComputedProvenance | None = Field(
        default=None,
        description="For computed hydrides (source computed): parent, substitution, "
        "potential and relaxation; None for real ones.",
    )
    fingerprint: str = Field(
        description="Hash of the symmetrised structure (formula, space group, "
        "reduced primitive lattice): equal for equal crystals."
    )
    content_hash: str = Field(
        description="Hash of the input content; an unchanged re-ingest is skipped."
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the content last changed (UTC)."
    )

    @classmethod
    def from_structure(
        cls,
        structure: Structure,
        *,
        material_id: str | None,
        source: str,
        origin: str,
        licence: str | None = None,
        provenance: str | None = None,
        formation_energy_per_atom: float | None = None,
        energy_source: str | None = None,
        e_above_hull: float | None = None,
        band_gap: float | None = None,
        symprec: float = 0.1,
        e_threshold: float = _SCORE.e_threshold,
        sigma: float = _SCORE.sigma,
        build: BuildMeta | None = None,
        computed: ComputedProvenance | None = None,
        symmetry: Symmetry | None = None,
        input_nsites: int | None = None,
        notes: list[str] | None = None,
        energy_potential: str | None = None,
    ) -> HydrideDoc:
        """Analyse a checked structure and build its document.

        Parameters
        ----------
        structure
            An ordered metal-hydride structure that passed the checks.
        material_id
            The source's id; None derives one from the structure fingerprint.
        source, origin, licence, provenance
            Where the entry comes from.
        formation_energy_per_atom, energy_source, e_above_hull, band_gap
            Known properties (eV/atom, eV).
        symprec
            Symmetry tolerance in angstrom.
        e_threshold, sigma
            Storage-score parameters.
        build
            Build metadata; a fresh one when None.
        computed
            How a computed hydride was made (parent, substitution, potential).
        symmetry
            The structure's symmetry when already analysed (with ``symprec``).
        input_nsites
            Sites of the input cell, when the structure is its primitive cell.
        notes
            What reading the input changed.
        energy_potential
            The potential ('name version') that computed the energies.

        Returns
        -------
        HydrideDoc
            The document.
        """
        if symmetry is None:
            symmetry = analyse_symmetry(structure, symprec)
        comp = structure.composition
        features = HydrideFeatures(
            **hydride_features(
                structure,
                symmetry,
                formation_energy_per_atom,
                e_above_hull,
                e_threshold=e_threshold,
                sigma=sigma,
            )
        )
        factor = (
            energy_factor(formation_energy_per_atom, e_threshold, sigma)
            if formation_energy_per_atom is not None
            else None
        )
        structure_dict = structure.as_dict()
        payload: dict[str, Any] = {
            "structure": structure_dict,
            "material_id": material_id,
            "source": source,
            "licence": licence,
            "provenance": provenance,
            "e_form": formation_energy_per_atom,
            "energy_source": energy_source,
            "e_above_hull": e_above_hull,
            "band_gap": band_gap,
            "score": [e_threshold, sigma],
        }
        if computed is not None:
            payload["computed"] = computed.model_dump()
        # new fields enter the hash only when set: documents stored before
        # them keep their hash (an unchanged re-ingest stays unchanged)
        if input_nsites is not None and input_nsites != len(structure):
            payload["input_nsites"] = input_nsites
        if notes:
            payload["notes"] = list(notes)
        if energy_potential is not None:
            payload["energy_potential"] = energy_potential
        elements = sorted(el.symbol for el in comp.elements)
        return cls(
            material_id=material_id or f"mf-{symmetry.fingerprint}",
            source=source,
            origin=origin,
            licence=licence,
            provenance=provenance,
            structure=structure,
            formula=comp.formula.replace(" ", ""),
            reduced_formula=comp.reduced_formula,
            chemsys="-".join(elements),
            elements=elements,
            nelements=len(elements),
            nsites=len(structure),
            input_nsites=input_nsites if input_nsites is not None else len(structure),
            notes=list(notes or []),
            formation_energy_per_atom=formation_energy_per_atom,
            energy_source=energy_source
            if formation_energy_per_atom is not None
            else None,
            e_above_hull=e_above_hull,
            energy_potential=energy_potential
            if formation_energy_per_atom is not None
            else None,
            band_gap=band_gap,
            spacegroup_number=symmetry.number,
            spacegroup_symbol=symmetry.symbol,
            crystal_system=symmetry.crystal_system,
            h_weight_fraction=features.h_weight_fraction,
            energy_factor=factor,
            storage_score=features.storage_score,
            features=features,
            computed=computed,
            fingerprint=symmetry.fingerprint,
            content_hash=content_hash(payload),
            build=build or BuildMeta(),
        )

    def with_energies(
        self,
        formation_energy_per_atom: float | None,
        e_above_hull: float | None,
        *,
        energy_source: str | None,
        energy_potential: str | None,
        e_threshold: float = _SCORE.e_threshold,
        sigma: float = _SCORE.sigma,
        build: BuildMeta | None = None,
    ) -> HydrideDoc:
        """Return this document with energies (and so score and features) filled in.

        The symmetry is taken from the document, not analysed again.

        Parameters
        ----------
        formation_energy_per_atom, e_above_hull
            The energies, eV/atom.
        energy_source, energy_potential
            What computed them.
        e_threshold, sigma
            Storage-score parameters.
        build
            Build metadata; this document's when None.
        """
        from matforge.core.features import Symmetry

        symmetry = Symmetry(
            self.spacegroup_number,
            self.spacegroup_symbol,
            self.crystal_system,
            self.fingerprint,
            self.nsites,
        )
        derived = self.material_id == f"mf-{self.fingerprint}"
        return HydrideDoc.from_structure(
            self.structure,
            material_id=None if derived else self.material_id,
            source=self.source,
            origin=self.origin,
            licence=self.licence,
            provenance=self.provenance,
            formation_energy_per_atom=formation_energy_per_atom,
            energy_source=energy_source,
            e_above_hull=e_above_hull,
            band_gap=self.band_gap,
            e_threshold=e_threshold,
            sigma=sigma,
            build=build or self.build,
            computed=self.computed,
            symmetry=symmetry,
            input_nsites=self.input_nsites,
            notes=self.notes,
            energy_potential=energy_potential,
        )
