"""Queries shared by the command line, the report, the flow and the builders."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from maggma.stores import MontyStore

if TYPE_CHECKING:
    from maggma.core import Store


def top_documents(
    store: Store,
    sort_field: str,
    top: int = 20,
    ascending: bool = False,
    elements: Sequence[str] = (),
    fields: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Return the best ``top`` documents by a numeric field.

    Documents without a number in ``sort_field`` are left out. The ranking is
    done here with a heap rather than by the database, which is as fast on
    MongoDB for these sizes and much faster on montydb (whose sort is Python).

    Parameters
    ----------
    store
        A connected store.
    sort_field
        Field to rank by.
    top
        How many documents to return.
    ascending
        Smallest first instead of largest first.
    elements
        Keep documents whose ``elements`` hold all of these.
    fields
        Fields to return (all when None).
    """
    criteria: dict[str, Any] = {sort_field: {"$ne": None}}
    if elements:
        criteria["elements"] = {"$all": list(elements)}
    projection = None
    if fields is not None:
        projection = dict.fromkeys({*fields, sort_field}, 1) | {"_id": 0}
    coll = store._collection
    docs = (
        d
        for d in coll.find(criteria, projection)
        if isinstance(d.get(sort_field), int | float)
    )
    pick = heapq.nsmallest if ascending else heapq.nlargest
    return pick(top, docs, key=lambda d: d[sort_field])


def scan_documents(
    store: Store,
    fields: Iterable[str],
    field_name: str | None = None,
    values: Iterable[Any] | None = None,
    batch: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Yield some fields of the documents whose ``field_name`` is in ``values``.

    Every document when ``field_name`` is None. montydb has no index and
    evaluates ``$in`` per document and element: there one plain scan, filtered
    here, is faster than the query.

    Parameters
    ----------
    store
        A connected store.
    fields
        Fields to return (``_id`` never is; ``field_name`` always is).
    field_name, values
        Keep the documents whose ``field_name`` is one of ``values``.
    batch
        Values per ``$in`` query on the other backends.
    """
    # the filtered field is read too (montydb's scan below filters on it here)
    keep = [*fields, field_name] if field_name is not None else list(fields)
    projection = dict.fromkeys(keep, 1) | {"_id": 0}
    coll = store._collection  # maggma's query has no projection-only scan
    if field_name is None or values is None:
        yield from coll.find({}, projection)
        return
    wanted = set(values)
    if not wanted:
        return
    if isinstance(store, MontyStore):
        for doc in coll.find({}, projection):
            if doc.get(field_name) in wanted:
                yield doc
        return
    ordered = sorted(wanted)
    for start in range(0, len(ordered), batch):
        chunk = ordered[start : start + batch]
        yield from coll.find({field_name: {"$in": chunk}}, projection)


def ranked_candidates(
    store: Store,
    run_id: str | None = None,
    ids: Iterable[str] | None = None,
    top: int | None = None,
    *,
    novel_only: bool = False,
    stable_only: bool = False,
    fields: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Return ranked candidates: highest storage score first, with their rank.

    The one ranking of candidates: the command line, the report, the flow and
    both DFT codes call it. Only documents with status ``candidate`` (valid,
    one per group of duplicates) and a storage score are ranked; ties go to
    the lower energy above the hull, then to the id. ``rank`` counts from 1
    over the candidates selected by ``run_id`` and ``ids`` (a campaign's own
    ranking), before the novel / stable filters.

    Parameters
    ----------
    store
        The candidates store.
    run_id
        Only this campaign's candidates (all campaigns when None).
    ids
        Only these candidates (all when None).
    top
        How many to return (all when None).
    novel_only, stable_only
        Keep only candidates flagged novel / stable.
    fields
        Fields to return besides ``rank`` (all when None).
    """
    projection = None
    if fields is not None:
        keep = {*fields, "candidate_id", "storage_score", "e_above_hull"}
        keep |= {"is_novel", "is_stable", "run_id"}
        projection = dict.fromkeys(keep, 1) | {"_id": 0}
    criteria: dict[str, Any] = {"status": "candidate"}
    if run_id is not None:
        criteria["run_id"] = run_id
    wanted = set(ids) if ids is not None else None
    docs = [
        d
        for d in store._collection.find(criteria, projection)
        if isinstance(d.get("storage_score"), int | float)
        and (wanted is None or d.get("candidate_id") in wanted)
    ]
    docs.sort(
        key=lambda d: (
            -d["storage_score"],
            d["e_above_hull"] if d.get("e_above_hull") is not None else math.inf,
            d["candidate_id"],
        )
    )
    ranked = []
    for rank, doc in enumerate(docs, start=1):
        doc.pop("_id", None)
        if (novel_only and not doc.get("is_novel")) or (
            stable_only and not doc.get("is_stable")
        ):
            continue
        ranked.append({"rank": rank, **doc})
        if top is not None and len(ranked) >= top:
            break
    return ranked
