"""Campaign records: what each stage of a campaign ran on, and what it made.

Every stage of the discovery flow writes one document per campaign into the
``runs`` collection, keyed ``<run_id>/<stage>``. It holds the content hash of
the stage's inputs and settings and, once the stage has finished, its small
output (ids and counts). The flow (:mod:`matforge.flows.stage`) decides what
to run from these records; the command line and the report read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matforge.stores.queries import ranked_candidates

if TYPE_CHECKING:
    from matforge.stores.factory import StoreFactory

STAGES: tuple[str, ...] = (
    "ingest",
    "features",
    "causal",
    "train",
    "generate",
    "relax",
    "candidates",
    "dft",
    "report",
)
"""The stages of the discovery flow, in order."""

STAGE_COUNTS: dict[str, str] = {
    "ingest": "hydrides",
    "features": "with_score",
    "causal": "selected_features",
    "train": "epochs_run",
    "generate": "generated",
    "relax": "relaxed",
    "candidates": "candidates",
    "dft": "validated",
    "report": "files",
}
"""The output field a stage's summary line counts."""


def known_hydrides_key(run_id: str) -> str:
    """Return the data-store key of a campaign's known hydrides (report plot)."""
    return f"report/{run_id}/known_hydrides.json"


def stage_id(run_id: str, stage: str) -> str:
    """Return the id of a stage's record."""
    return f"{run_id}/{stage}"


def stage_record(factory: StoreFactory, run_id: str, stage: str) -> dict | None:
    """Return the record of one stage of a campaign, or None."""
    doc = factory.store("runs").query_one({"stage_id": stage_id(run_id, stage)})
    if doc is not None:
        doc.pop("_id", None)
    return doc


def write_record(factory: StoreFactory, record: dict[str, Any]) -> None:
    """Write (or replace) a stage record."""
    factory.store("runs").update([record], key="stage_id")


def run_records(factory: StoreFactory, run_id: str) -> list[dict[str, Any]]:
    """Return the stage records of a campaign, in stage order."""
    docs = list(factory.store("runs").query({"run_id": run_id}))
    order = {name: i for i, name in enumerate(STAGES)}
    for doc in docs:
        doc.pop("_id", None)
    return sorted(docs, key=lambda d: order.get(d["stage"], len(order)))


def latest_run_id(factory: StoreFactory) -> str | None:
    """Return the id of the campaign whose record changed last, or None."""
    docs = list(factory.store("runs").query({}, properties=["run_id", "updated_at"]))
    if not docs:
        return None
    return max(docs, key=lambda d: str(d.get("updated_at")))["run_id"]


def stage_output(factory: StoreFactory, run_id: str, stage: str) -> dict[str, Any]:
    """Return the recorded output of a campaign's stage ({} when none)."""
    record = stage_record(factory, run_id, stage)
    return (record or {}).get("output") or {}


def run_summary(factory: StoreFactory, run_id: str, top: int = 10) -> dict[str, Any]:
    """Return a campaign's stages (count, time, status) and top candidates.

    Parameters
    ----------
    factory
        The store factory.
    run_id
        The campaign.
    top
        Candidates to list (ranked within the campaign).
    """
    stages = []
    for record in run_records(factory, run_id):
        output = record.get("output") or {}
        count = output.get(STAGE_COUNTS.get(record["stage"], ""), None)
        if isinstance(count, list):
            count = len(count)
        stages.append(
            {
                "stage": record["stage"],
                "status": record["status"],
                "count": count,
                "seconds": record.get("seconds"),
                "finished_at": record.get("updated_at"),
            }
        )
    sun = (stage_output(factory, run_id, "candidates") or {}).get("sun")
    return {
        "run_id": run_id,
        "stages": stages,
        "sun": sun,
        "top_candidates": ranked_candidates(
            factory.store("candidates"), run_id=run_id, top=top
        )
        if top
        else [],
    }
