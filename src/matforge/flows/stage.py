"""The one Maker convention of matforge's flows, and how a stage runs once.

Every Maker of :mod:`matforge.flows` is a thin dataclass (atomate2 style:
``name`` and ``make()``, never mutating ``self``) with one more field,
``settings``: the *science* settings of the job (every section but where
things live), serialised into the job like any Maker field. Where the job
writes is not part of it:

- a job that jobflow runs in this process with a JobStore from
  :meth:`~matforge.stores.StoreFactory.job_store` (``matforge run``) writes
  through that factory's open database;
- a job a FireWorks worker runs elsewhere writes to the database of the
  worker's own settings (``MATFORGE_CONFIG_FILE``, written with its jobflow
  ``JOB_STORE`` by ``matforge launchpad init``).

So a campaign submitted from a login node carries its settings to every
worker, and no secret (store URI, password, API key) ever enters a job.

Campaign stages (:class:`StageMaker`) also carry the campaign's ``run_id`` and
run once per content hash (:func:`run_stage`): a stage whose finished record
in ``runs`` carries the same hash of its settings and inputs is skipped and
returns its recorded output, so an interrupted campaign resumes after its
last finished stage.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import CURRENT_JOB, JobConfig, Maker, job

from matforge.schemas.common import content_hash, package_versions, utcnow
from matforge.settings import LOCATION_FIELDS, MatforgeSettings, load_settings
from matforge.stores import StoreFactory
from matforge.stores.lock import store_writer
from matforge.stores.runs import STAGES, stage_id, stage_record, write_record

logger = logging.getLogger("matforge.flow")

Work = Callable[[StoreFactory, MatforgeSettings, str, dict[str, Any] | None], dict]
"""A stage's work: ``work(factory, settings, run_id, upstream_output)``."""

stage_job = job(config=JobConfig(expose_store=True))
"""The decorator of every ``make``: jobflow shows the job its JobStore."""


def job_settings(settings: MatforgeSettings) -> dict[str, Any]:
    """Return the science settings that travel with a job (JSON-able, no secret).

    Parameters
    ----------
    settings
        The settings of the process that builds the flow.
    """
    return settings.model_dump(mode="json", exclude=set(LOCATION_FIELDS))


def merged_settings(
    where: MatforgeSettings, science: dict[str, Any]
) -> MatforgeSettings:
    """Return ``where``'s settings with a job's science settings over them.

    Each section of ``science`` is laid over the same section of ``where``
    (a partial section patches it; a full one replaces it).
    """
    update: dict[str, Any] = {}
    for name, value in science.items():
        current = getattr(where, name)
        if isinstance(value, dict) and hasattr(current, "model_validate"):
            update[name] = type(current).model_validate(current.model_dump() | value)
        else:
            update[name] = value
    return where.model_copy(update=update)


@contextmanager
def job_factory(
    science: dict[str, Any], command: str, write: bool = True
) -> Iterator[StoreFactory]:
    """Yield the store factory a job reads and writes through.

    Parameters
    ----------
    science
        The job's science settings (its Maker's ``settings``).
    command
        What writes, for the embedded store's writer lock.
    write
        Take the writer lock (embedded stores).
    """
    parent = StoreFactory.of_job_store(CURRENT_JOB.store)
    if parent is not None:
        factory = parent.with_settings(merged_settings(parent.settings, science))
    else:
        factory = StoreFactory(merged_settings(load_settings(), science))
    try:
        if write:
            with store_writer(factory, command):
                yield factory
        else:
            yield factory
    finally:
        factory.close()


@dataclass
class MatforgeMaker(Maker):
    """Fields every matforge Maker has.

    Parameters
    ----------
    name
        Name of the job.
    settings
        Science settings of the job (see :func:`job_settings`), laid over the
        settings where it runs; ``{}``: those settings as they are.
    """

    name: str = "matforge"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageMaker(MatforgeMaker):
    """A stage of a campaign.

    Parameters
    ----------
    name
        Name of the job.
    settings
        Science settings of the job.
    run_id
        The campaign, recorded on every document.
    """

    name: str = "stage"
    run_id: str = "default"


def file_digest(path: Path) -> str:
    """Return the SHA-1 of a file's bytes."""
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    doc = stage_record(factory, run_id, stage)
    if doc is None or doc.get("status") != "done" or doc.get("hash") != digest:
        return None
    return doc


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
        The stage name (one of :data:`~matforge.stores.runs.STAGES`).
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
    write_record(factory, record)
    start = time.perf_counter()
    output = work()
    seconds = time.perf_counter() - start
    record |= {
        "status": "done",
        "output": output,
        "seconds": seconds,
        "updated_at": utcnow().isoformat(),
    }
    write_record(factory, record)
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


def execute_stage(
    maker: StageMaker,
    stage: str,
    key: Callable[[MatforgeSettings], Any],
    work: Work,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Run one stage of a campaign in a job (see :func:`run_stage`).

    Parameters
    ----------
    maker
        The stage's Maker (``run_id`` and ``settings``).
    stage
        The stage name.
    key
        Returns the JSON-able settings that shape the stage's result.
    work
        Runs the stage: ``work(factory, settings, run_id, upstream_output)``.
    upstream
        The output of the stage before it.
    """
    upstream_output = upstream["output"] if upstream else None
    with job_factory(maker.settings, f"stage {stage} of {maker.run_id}") as factory:
        settings = factory.settings
        return run_stage(
            factory,
            maker.run_id,
            stage,
            key(settings),
            upstream,
            lambda: work(factory, settings, maker.run_id, upstream_output),
        )


def job_uuid(run_id: str, step: str) -> str:
    """Return the fixed job id of a campaign's step.

    Fixed ids make a re-run of the same campaign replace its job outputs
    instead of adding new ones; campaign ids carry their kind (``run-``,
    ``amorph-run-``), so two kinds never share a job id.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"matforge:{run_id}/{step}"))


def run_flow_here(flow: Any, factory: StoreFactory) -> dict[str, Any]:
    """Run a flow in this process on the factory's JobStore (jobflow's ``run_locally``).

    Stops at the first failed job, raising its error. Returns each job's
    output by job id (the last run of a job that ran more than once).
    """
    from jobflow.managers.local import run_locally

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="cd is deprecated")
        responses = run_locally(
            flow,
            store=factory.job_store(),
            log=False,
            ensure_success=True,
            raise_immediately=True,
        )
    return {
        job_id: max(by_index.items())[1].output
        for job_id, by_index in responses.items()
    }
