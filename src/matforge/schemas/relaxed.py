"""The relaxed collection: one ML-potential relaxation of a generated crystal."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from matforge.core.geometry import site_rmsd
from matforge.core.score import h_weight_fraction
from matforge.core.score import storage_score as score_of
from matforge.schemas.common import BuildMeta, StructureType, content_hash, utcnow
from matforge.schemas.phase import HullProduct
from matforge.settings import ScoreSettings

_SCORE = ScoreSettings()  # the score's defaults, defined in settings


def relaxed_id_for(
    generated_id: str, potential: str, potential_version: str | None
) -> str:
    """Return the id of the relaxation of a generated crystal with a potential.

    The same crystal relaxed again with the same potential gets the same id, so
    a re-run updates its document instead of adding another.
    """
    digest = content_hash([generated_id, potential, potential_version])
    return f"rlx-{digest[:16]}"


class RelaxedDoc(BaseModel):
    """A generated crystal after relaxation with an ML potential, or the failure.

    Build it with :meth:`from_relaxation` or :meth:`from_failure`, and store it
    with :func:`matforge.stores.upsert_documents` (on ``content_hash``): an
    unchanged re-run then keeps ``last_updated``, which the candidates builder
    reads to process only new or changed relaxations.
    """

    relaxed_id: str = Field(
        description="Unique id; by default derived from the parent and the "
        "potential (see `relaxed_id_for`)."
    )
    generated_id: str = Field(
        description="Id of the parent document in the generated collection."
    )
    run_id: str | None = Field(
        default=None,
        description="Id of the generation or relaxation run that made it, if any.",
    )
    initial_structure: StructureType = Field(
        description="The generated (un-relaxed) crystal."
    )
    structure: StructureType | None = Field(
        default=None, description="The relaxed crystal; None if the relaxation failed."
    )
    formula: str = Field(description="Full formula of the cell, e.g. Ti2H4.")
    reduced_formula: str = Field(description="Reduced formula, e.g. TiH2.")
    chemsys: str = Field(description="Chemical system, elements joined by '-'.")
    elements: list[str] = Field(description="Element symbols, sorted.")
    nsites: int = Field(description="Number of sites in the cell.")
    energy_per_atom: float | None = Field(
        default=None,
        description="Total energy of the relaxed crystal from the potential, eV/atom.",
    )
    formation_energy_per_atom: float | None = Field(
        default=None,
        description="Formation energy of the relaxed crystal against the elemental "
        "references, eV/atom.",
    )
    e_above_hull: float | None = Field(
        default=None,
        description="Energy above the convex hull of the Materials Project's "
        "competing phases and the stored hydrides (MP2020 scale), eV/atom; "
        "negative below it.",
    )
    decomposition: list[HullProduct] | None = Field(
        default=None,
        description="The hull phases at the crystal's composition (what it would "
        "decompose into), largest share first; None when unknown.",
    )
    hull_phases: int | None = Field(
        default=None,
        ge=0,
        description="How many competing phases (elements included) made the hull.",
    )
    h_weight_fraction: float = Field(description="Hydrogen mass fraction (0-1).")
    storage_score: float | None = Field(
        default=None,
        description="Hydrogen Storage Score from the formation energy; None when it "
        "is unknown.",
    )
    potential: str = Field(description="Name of the ML potential (e.g. MACE-MP-0).")
    potential_version: str | None = Field(
        default=None, description="Version or checkpoint of the potential."
    )
    steps: int | None = Field(default=None, ge=0, description="Optimiser steps taken.")
    converged: bool = Field(
        description="Whether the optimiser reached its force criterion."
    )
    max_force: float | None = Field(
        default=None, ge=0, description="Largest residual force, eV/angstrom."
    )
    rmsd: float | None = Field(
        default=None,
        ge=0,
        description="RMS displacement of the atoms between the generated and the "
        "relaxed crystal, angstrom (see core.geometry.site_rmsd).",
    )
    failed: bool = Field(
        default=False, description="Whether the relaxation failed (no result)."
    )
    failure_reason: str | None = Field(
        default=None, description="Why the relaxation failed, for a person."
    )
    content_hash: str = Field(
        description="Hash of the content; an unchanged re-run is not rewritten."
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the content last changed (UTC)."
    )

    @staticmethod
    def _composition_fields(structure: Structure) -> dict:
        comp = structure.composition
        elements = sorted(el.symbol for el in comp.elements)
        return {
            "formula": comp.formula.replace(" ", ""),
            "reduced_formula": comp.reduced_formula,
            "chemsys": "-".join(elements),
            "elements": elements,
            "nsites": len(structure),
            "h_weight_fraction": h_weight_fraction(comp) if comp["H"] else 0.0,
        }

    @classmethod
    def from_relaxation(
        cls,
        *,
        generated_id: str,
        initial_structure: Structure,
        structure: Structure,
        potential: str,
        converged: bool,
        energy_per_atom: float | None = None,
        formation_energy_per_atom: float | None = None,
        e_above_hull: float | None = None,
        decomposition: list[HullProduct] | None = None,
        hull_phases: int | None = None,
        potential_version: str | None = None,
        steps: int | None = None,
        max_force: float | None = None,
        run_id: str | None = None,
        relaxed_id: str | None = None,
        e_threshold: float = _SCORE.e_threshold,
        sigma: float = _SCORE.sigma,
        build: BuildMeta | None = None,
    ) -> RelaxedDoc:
        """Build the document of a finished relaxation.

        The formula, hydrogen fraction, storage score (from the formation
        energy and the score parameters) and RMSD are derived here.

        Parameters
        ----------
        generated_id
            Id of the parent generated document.
        initial_structure, structure
            The crystal before and after relaxation (same sites, same order).
        potential, potential_version
            The ML potential used.
        converged
            Whether the optimiser converged.
        energy_per_atom, formation_energy_per_atom, e_above_hull
            Energies of the relaxed crystal, eV/atom.
        decomposition, hull_phases
            Its decomposition on the hull, and how many phases made the hull.
        steps, max_force
            Optimiser steps and the largest residual force (eV/angstrom).
        run_id
            The run that made it, if any.
        relaxed_id
            The id; by default :func:`relaxed_id_for` of the parent and potential.
        e_threshold, sigma
            Storage-score parameters (``settings.score``).
        build
            Build metadata; a fresh one when None.

        Returns
        -------
        RelaxedDoc
            The document.
        """
        score = (
            score_of(
                structure.composition, formation_energy_per_atom, e_threshold, sigma
            ).storage_score
            if formation_energy_per_atom is not None and structure.composition["H"]
            else None
        )
        rmsd = site_rmsd(initial_structure, structure)
        payload = {
            "generated_id": generated_id,
            "run_id": run_id,
            "initial": initial_structure.as_dict(),
            "relaxed": structure.as_dict(),
            "energies": [energy_per_atom, formation_energy_per_atom, e_above_hull],
            "hull": [
                [d.model_dump() for d in decomposition or []],
                hull_phases,
            ],
            "potential": [potential, potential_version],
            "optimiser": [steps, converged, max_force],
            "score": [e_threshold, sigma],
        }
        return cls(
            relaxed_id=relaxed_id
            or relaxed_id_for(generated_id, potential, potential_version),
            generated_id=generated_id,
            run_id=run_id,
            initial_structure=initial_structure,
            structure=structure,
            energy_per_atom=energy_per_atom,
            formation_energy_per_atom=formation_energy_per_atom,
            e_above_hull=e_above_hull,
            decomposition=decomposition,
            hull_phases=hull_phases,
            storage_score=score,
            potential=potential,
            potential_version=potential_version,
            steps=steps,
            converged=converged,
            max_force=max_force,
            rmsd=rmsd,
            content_hash=content_hash(payload),
            build=build or BuildMeta(),
            **cls._composition_fields(structure),
        )

    @classmethod
    def from_failure(
        cls,
        *,
        generated_id: str,
        initial_structure: Structure,
        potential: str,
        reason: str,
        potential_version: str | None = None,
        steps: int | None = None,
        run_id: str | None = None,
        relaxed_id: str | None = None,
        build: BuildMeta | None = None,
    ) -> RelaxedDoc:
        """Build the document of a relaxation that failed: recorded, not dropped.

        Parameters
        ----------
        generated_id
            Id of the parent generated document.
        initial_structure
            The crystal that could not be relaxed.
        potential, potential_version
            The ML potential used.
        reason
            Why it failed, for a person.
        steps
            Optimiser steps taken before the failure, if known.
        run_id, relaxed_id, build
            As for :meth:`from_relaxation`.

        Returns
        -------
        RelaxedDoc
            The document, with ``failed`` set and no relaxed structure.
        """
        payload = {
            "generated_id": generated_id,
            "run_id": run_id,
            "initial": initial_structure.as_dict(),
            "potential": [potential, potential_version],
            "failure": [reason, steps],
        }
        return cls(
            relaxed_id=relaxed_id
            or relaxed_id_for(generated_id, potential, potential_version),
            generated_id=generated_id,
            run_id=run_id,
            initial_structure=initial_structure,
            potential=potential,
            potential_version=potential_version,
            steps=steps,
            converged=False,
            failed=True,
            failure_reason=reason,
            content_hash=content_hash(payload),
            build=build or BuildMeta(),
            **cls._composition_fields(initial_structure),
        )
