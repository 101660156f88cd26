"""Bulk upserts that keep ``last_updated`` of unchanged documents.

maggma's ``Store.update`` replaces documents one query at a time; montydb has
no indexes, so each of those queries reads the whole collection. Here the ids
and content hashes already stored are read in one pass, new documents are
inserted in batches, and only changed documents are replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maggma.stores import MontyStore
from monty.json import jsanitize

if TYPE_CHECKING:
    from maggma.core import Store

BATCH = 1000


@dataclass
class UpsertResult:
    """What an upsert did, by document id."""

    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_values(
    store: Store, key: str, keys: Iterable[str] | None, field_name: str
) -> dict[str, Any]:
    """Return ``{id: doc[field_name]}`` for the given ids (all when None) in a store."""
    projection = {key: 1, field_name: 1, "_id": 0}
    coll = store._collection  # maggma offers no projection scan
    if keys is None:
        return {
            d[key]: d.get(field_name) for d in coll.find({}, projection) if key in d
        }
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[str, Any] = {}
    if isinstance(store, MontyStore):
        # montydb evaluates `$in` per document and element: one scan is faster.
        for doc in coll.find({key: {"$exists": True}}, projection):
            if doc.get(key) in wanted:
                found[doc[key]] = doc.get(field_name)
        return found
    for chunk in _chunks(sorted(wanted), BATCH):
        for doc in coll.find({key: {"$in": list(chunk)}}, projection):
            found[doc[key]] = doc.get(field_name)
    return found


def upsert_documents(
    store: Store,
    docs: Sequence[dict[str, Any]],
    key: str | None = None,
    hash_field: str = "content_hash",
    stored: dict[str, Any] | None = None,
) -> UpsertResult:
    """Insert new documents, replace changed ones, leave unchanged ones alone.

    Parameters
    ----------
    store
        A connected maggma store.
    docs
        Documents, each with ``key`` and ``hash_field``. A later document with
        the same id wins over an earlier one.
    key
        The id field; the store's key when None.
    hash_field
        The field whose equality means "unchanged".
    stored
        ``{id: hash}`` of the documents already stored, when the caller keeps
        it (see :func:`stored_values`); it is then updated in place instead of
        read from the store, which saves a scan per batch on montydb.

    Returns
    -------
    UpsertResult
        The ids inserted, updated and left unchanged.
    """
    key = key or store.key
    latest: dict[str, dict[str, Any]] = {}
    for doc in docs:
        latest[doc[key]] = doc
    if stored is None:
        stored = stored_values(store, key, latest, hash_field)
    result = UpsertResult()
    new_docs: list[dict[str, Any]] = []
    coll = store._collection
    for doc_id, doc in latest.items():
        if doc_id not in stored:
            new_docs.append(jsanitize(doc, allow_bson=True))
            result.inserted.append(doc_id)
        elif stored[doc_id] == doc.get(hash_field):
            result.unchanged.append(doc_id)
        else:
            coll.replace_one(
                {key: doc_id}, jsanitize(doc, allow_bson=True), upsert=True
            )
            result.updated.append(doc_id)
    for chunk in _chunks(new_docs, BATCH):
        coll.insert_many(list(chunk), ordered=False)
    for doc_id in (*result.inserted, *result.updated):
        stored[doc_id] = latest[doc_id].get(hash_field)
    return result
