"""DFT task documents in ``dft_tasks``: writes and the reads the stages need."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from matforge.schemas.dft import DftTaskDoc
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from maggma.core import Store

SUMMARY_FIELDS = tuple(f for f in DftTaskDoc.model_fields if f != "task_doc")
"""Every field of a task but the (large) atomate2 task document."""


def store_task(store: Store, doc: DftTaskDoc) -> None:
    """Write one task (replacing an older one of its id)."""
    store_tasks(store, [doc])


def store_tasks(store: Store, docs: Sequence[DftTaskDoc]) -> None:
    """Write tasks (replacing older ones of their ids)."""
    if docs:
        upsert_documents(
            store,
            [d.model_dump() for d in docs],
            "task_id",
            hash_field="last_updated",
        )


def successful_tasks(store: Store, task_ids: Sequence[str]) -> dict[str, dict]:
    """Return the successful tasks among some ids (without their task_doc)."""
    wanted = set(task_ids)
    found = {}
    for doc in store.query({"state": "successful"}, properties=list(SUMMARY_FIELDS)):
        if doc["task_id"] in wanted:
            doc.pop("_id", None)
            found[doc["task_id"]] = doc
    return found


def task_states(store: Store, settings_hash: str) -> dict[str, str | None]:
    """Return ``{task_id: state}`` of the tasks made with some settings."""
    return {
        d["task_id"]: d.get("state")
        for d in store.query(
            {"settings_hash": settings_hash}, properties=["task_id", "state"]
        )
    }


def open_tasks(store: Store, code: str) -> dict[str, dict[str, Any]]:
    """Return the unfinished tasks of a code (without their task_doc), by id."""
    return {
        d["task_id"]: d
        for d in store.query(
            {"code": code, "state": {"$ne": "successful"}},
            properties=list(SUMMARY_FIELDS),
        )
    }
