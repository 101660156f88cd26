"""The ingest stage: the offline snapshot into ``hydrides`` (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matforge.data.offline import offline_files
from matforge.data.sources import ingest_offline
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
