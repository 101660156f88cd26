"""The relax stage: a campaign's generated crystals in, relaxed documents out.

The relaxation itself (an ML potential through atomate2's force-field makers,
energies, formation energy, energy above the hull) lives in
:mod:`matforge.potentials` and :mod:`matforge.flows.potentials`; here the
stage reads the generated crystals and writes one relaxed document each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobflow import job

from matforge.errors import MatforgeError
from matforge.flows.stages import StageMaker, execute_stage

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from matforge.flows.potentials import EnergyRow
    from matforge.schemas import BuildMeta
    from matforge.schemas.relaxed import RelaxedDoc
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory


logger = logging.getLogger("matforge.flow")

RELAX_CHUNK = 64
"""Relaxed crystals written together by the relax stage."""


class StageUnavailableError(MatforgeError):
    """A stage of the flow needs a package that is not installed."""


def _relaxed_document(
    doc: dict[str, Any],
    structure: Structure,
    row: EnergyRow,
    relaxed_id: str,
    run_id: str,
    build: BuildMeta,
    settings: MatforgeSettings,
) -> RelaxedDoc:
    """Return the relaxed document of one generated crystal (or its failure)."""
    from matforge.schemas.relaxed import RelaxedDoc

    common = {
        "generated_id": doc["generated_id"],
        "initial_structure": structure,
        "potential": row.result.potential,
        "potential_version": row.result.potential_version,
        "steps": row.result.steps,
        "run_id": run_id,
        "relaxed_id": relaxed_id,
        "build": build,
    }
    failure = row.error or row.result.error
    if failure is not None or row.result.energy is None:
        return RelaxedDoc.from_failure(
            **common, reason=failure or "the potential gave no energy"
        )
    return RelaxedDoc.from_relaxation(
        **common,
        structure=row.result.structure,
        converged=row.result.converged,
        energy_per_atom=row.result.energy / len(row.result.structure),
        formation_energy_per_atom=row.formation_energy_per_atom,
        e_above_hull=row.e_above_hull,
        max_force=row.result.max_force,
        e_threshold=settings.score.e_threshold,
        sigma=settings.score.sigma,
    )


def relax_generated(
    factory: StoreFactory,
    run_id: str,
    settings: MatforgeSettings,
    generated_ids: list[str],
    potential: str | None = None,
    chunk: int = RELAX_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Relax a campaign's generated crystals into the relaxed collection.

    The crystals are relaxed with the ML potential (batched where the
    potential allows, in one in-flight batch), their MP-compatible formation
    energies and hull distances computed against references and a hull read
    once (:func:`matforge.flows.potentials.compute_energies`), and a
    :class:`~matforge.schemas.relaxed.RelaxedDoc` is upserted on its
    deterministic id; a failure is a document too, never dropped. Crystals
    already relaxed with the same potential version are not relaxed again.

    Parameters
    ----------
    factory
        The store factory (generated in; relaxed out).
    run_id
        The campaign, recorded on every relaxed document.
    settings
        The matforge settings (potential, score).
    generated_ids
        The generated documents to relax.
    potential
        Name of the ML potential (None: ``settings.potential``).
    chunk
        Relaxed crystals written together; a stage killed mid-way loses at
        most the crystals in flight and fewer than ``chunk`` finished ones.
    progress
        Called with 1 for every crystal relaxed (a progress bar); every write
        is also logged on ``matforge.flow``.

    Returns
    -------
    dict
        Counts ``relaxed``, ``converged``, ``failed`` and ``reused``.
    """
    from pymatgen.core import Structure

    from matforge.flows.potentials import compute_energies, potential_of
    from matforge.schemas import BuildMeta
    from matforge.schemas.relaxed import relaxed_id_for
    from matforge.stores.writes import stored_values, upsert_documents

    spec = potential_of(settings, potential)
    wanted = set(generated_ids)
    generated = [
        doc
        for doc in factory.store("generated").query({"run_id": run_id})
        if doc["generated_id"] in wanted
    ]
    relaxed_store = factory.store("relaxed")
    ids = {
        doc["generated_id"]: relaxed_id_for(
            doc["generated_id"], spec.name, spec.version
        )
        for doc in generated
    }
    done = stored_values(relaxed_store, "relaxed_id", list(ids.values()), "relaxed_id")
    todo = [doc for doc in generated if ids[doc["generated_id"]] not in done]
    build = BuildMeta(
        inputs=[f"generated:{run_id}"],
        settings={
            "potential": settings.potential.model_dump(mode="json"),
            "score": settings.score.model_dump(),
        },
    )
    structures = [Structure.from_dict(doc["structure"]) for doc in todo]
    docs: list[dict[str, Any]] = []

    def write(rows: list[EnergyRow]) -> None:
        written = [
            _relaxed_document(
                todo[row.result.index],
                structures[row.result.index],
                row,
                ids[todo[row.result.index]["generated_id"]],
                run_id,
                build,
                settings,
            ).model_dump()
            for row in rows
        ]
        upsert_documents(relaxed_store, written, "relaxed_id")
        docs.extend(written)
        logger.info(
            "relax: %d of %d crystals written (%d failed)",
            len(docs),
            len(todo),
            sum(bool(d.get("failed")) for d in docs),
        )

    if todo:
        # one batch in flight for all crystals; written as they finish, so a
        # stage killed mid-way keeps what it relaxed
        compute_energies(
            factory,
            structures,
            [(doc["generated_id"], None) for doc in todo],
            spec,
            relax=True,
            params=settings.potential,
            progress=progress,
            on_rows=write,
            chunk=chunk,
        )
    failed = sum(bool(d.get("failed")) for d in docs)
    return {
        "relaxed": len(docs),
        "converged": sum(bool(d.get("converged")) for d in docs),
        "failed": failed,
        "reused": len(generated) - len(todo),
        "potential": f"{spec.name} {spec.version}",
    }


def relax_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Relax the crystals the generate stage made (see :func:`relax_generated`)."""
    if not upstream or "generated_ids" not in upstream:
        raise ValueError("the relax stage needs the generate stage's generated_ids")
    return dict(
        relax_generated(
            factory,
            run_id,
            settings,
            list(upstream["generated_ids"]),
            potential=settings.run.potential,
        )
    )


@dataclass
class RelaxGeneratedMaker(StageMaker):
    """Relax a campaign's generated crystals with an ML potential.

    Parameters
    ----------
    potential
        Name of the ML potential; None takes ``run.potential`` where the job
        runs.
    """

    name: str = "relax"
    potential: str | None = None

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        maker = self
        if self.potential is not None:
            run = {**self.overrides.get("run", {}), "potential": self.potential}
            maker = StageMaker(self.name, self.run_id, {**self.overrides, "run": run})
        return execute_stage(
            maker,
            "relax",
            lambda s: {"potential": s.run.potential, "score": s.score.model_dump()},
            relax_stage,
            upstream,
        )
