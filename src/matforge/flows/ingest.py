"""The ingest stage (the offline snapshot) and ingest of files with energies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matforge.data.ingest import IngestEnergies, IngestSummary
from matforge.data.offline import offline_files
from matforge.data.sources import ingest_offline, ingest_paths
from matforge.flows.relax import potential_of, static_energy_function
from matforge.flows.stage import StageMaker, execute_stage, file_digest, stage_job

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory


def ingest_key(settings: MatforgeSettings) -> dict[str, Any]:
    """Return what shapes the stage: the snapshot's bytes, ingest and score settings."""
    files = offline_files(settings.shared_data_dir())
    return {
        "files": {p.name: file_digest(p) for p in files},
        "ingest": settings.ingest.model_dump(exclude={"workers"}),
        "score": settings.score.model_dump(),
    }


def ingest_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Ingest the offline hydride snapshot into ``hydrides`` (idempotent)."""
    summary = ingest_offline(factory)
    return {
        "read": summary.read,
        "accepted": summary.accepted,
        "rejected": len(summary.rejected),
        "hydrides": factory.store("hydrides").count(),
    }


@dataclass
class IngestMaker(StageMaker):
    """Ingest the offline snapshot: hydrides with their features and score."""

    name: str = "ingest"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(self, "ingest", ingest_key, ingest_stage, upstream)


def ingest_files(
    factory: StoreFactory,
    paths: list[str],
    *,
    energies: bool = False,
    potential: str | None = None,
    model_path: str | None = None,
    batch_size: int = 32,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest structure files; with ``energies``, score what comes without energy.

    Parameters
    ----------
    factory
        The store factory.
    paths
        Files and folders.
    energies
        Compute formation energy and e_above_hull of entries without one with
        the ML potential (static: the stored primitive cell), in batches of
        ``batch_size`` structures.
    potential, model_path
        The potential (``potential.name`` / ``potential.model_path`` when None).
    batch_size
        Structures per potential call (bounds the memory).
    replace
        Also recompute entries whose input gives a formation energy.
    progress
        Called with the number of records handled since the last call.
    """
    plan = None
    if energies:
        spec = potential_of(factory.settings, potential, model_path)
        plan = IngestEnergies(
            static_energy_function(factory, spec),
            potential=spec.name,
            version=spec.version,
            batch_size=batch_size,
            replace=replace,
        )
    return ingest_paths(factory, paths, progress=progress, energies=plan)
