"""Stage records of a campaign: what ran, on which inputs, and what it made.

Every stage of the discovery flow writes one document per run into the
``runs`` collection, keyed ``<run_id>/<stage>``. It holds the content hash of
the stage's inputs and settings and, once the stage has finished, its small
output (ids and counts). A stage whose finished record carries the same hash
is skipped and returns the recorded output: a campaign interrupted at any
point and started again resumes after its last finished stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from matforge.schemas.common import content_hash, package_versions, utcnow

if TYPE_CHECKING:
    from matforge.stores import StoreFactory

logger = logging.getLogger("matforge.flow")

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


def stage_id(run_id: str, stage: str) -> str:
    """Return the id of a stage's record."""
    return f"{run_id}/{stage}"


def stage_hash(stage: str, settings: Any, upstream: str | None) -> str:
    """Return the content hash of a stage's settings and upstream output.

    Parameters
    ----------
    stage
        The stage name.
    settings
        JSON-able settings that shape the stage's result.
    upstream
        Hash of the stage before it (its inputs), None for the first stage.
    """
    return content_hash({"stage": stage, "settings": settings, "upstream": upstream})


def finished_record(
    factory: StoreFactory, run_id: str, stage: str, digest: str
) -> dict[str, Any] | None:
    """Return the finished record of a stage with this hash, or None."""
    doc = factory.store("runs").query_one({"stage_id": stage_id(run_id, stage)})
    if doc is None or doc.get("status") != "done" or doc.get("hash") != digest:
        return None
    doc.pop("_id", None)
    return doc


def run_records(factory: StoreFactory, run_id: str) -> list[dict[str, Any]]:
    """Return the stage records of a run, in stage order."""
    docs = list(factory.store("runs").query({"run_id": run_id}))
    order = {name: i for i, name in enumerate(STAGES)}
    for doc in docs:
        doc.pop("_id", None)
    return sorted(docs, key=lambda d: order.get(d["stage"], len(order)))


def latest_run_id(factory: StoreFactory) -> str | None:
    """Return the id of the run whose record changed last, or None."""
    docs = list(factory.store("runs").query({}, properties=["run_id", "updated_at"]))
    if not docs:
        return None
    return max(docs, key=lambda d: str(d.get("updated_at")))["run_id"]


def _write(factory: StoreFactory, doc: dict[str, Any]) -> None:
    factory.store("runs").update([doc], key="stage_id")


def run_stage(
    factory: StoreFactory,
    run_id: str,
    stage: str,
    settings: Any,
    upstream: dict[str, Any] | None,
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run a stage once per content hash and record it.

    Parameters
    ----------
    factory
        The store factory of the campaign.
    run_id
        The campaign.
    stage
        The stage name (one of :data:`STAGES`).
    settings
        JSON-able settings that shape the result.
    upstream
        The output of the stage before it (its ``hash`` is an input).
    work
        Runs the stage and returns its small, JSON-able output.

    Returns
    -------
    dict
        ``{stage, run_id, hash, skipped, seconds, output}``: what the next
        stage receives.
    """
    digest = stage_hash(stage, settings, upstream["hash"] if upstream else None)
    position = f"[{STAGES.index(stage) + 1}/{len(STAGES)}]"
    done = finished_record(factory, run_id, stage, digest)
    if done is not None:
        logger.info("%s %s: done before, skipped", position, stage)
        return _result(done, skipped=True)
    logger.info("%s %s: started", position, stage)
    record = {
        "stage_id": stage_id(run_id, stage),
        "run_id": run_id,
        "stage": stage,
        "hash": digest,
        "upstream": upstream["hash"] if upstream else None,
        "settings": settings,
        "status": "started",
        "started_at": utcnow().isoformat(),
        "updated_at": utcnow().isoformat(),
        "versions": package_versions(),
    }
    _write(factory, record)
    start = time.perf_counter()
    output = work()
    seconds = time.perf_counter() - start
    record |= {
        "status": "done",
        "output": output,
        "seconds": seconds,
        "updated_at": utcnow().isoformat(),
    }
    _write(factory, record)
    logger.info("%s %s: done in %.1f s", position, stage, seconds)
    return _result(record, skipped=False)


def _result(record: dict[str, Any], skipped: bool) -> dict[str, Any]:
    return {
        "stage": record["stage"],
        "run_id": record["run_id"],
        "hash": record["hash"],
        "skipped": skipped,
        "seconds": record.get("seconds"),
        "output": record.get("output") or {},
    }
