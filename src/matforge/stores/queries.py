"""Queries shared by the command line, the report, the flow and the builders."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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


SCORE_FIELD = "storage_score"


@dataclass
class HydrideListing:
    """The entries ``matforge query`` shows, and what it leaves out and why.

    Attributes
    ----------
    rows
        The entries: those with a number in ``sort_field`` first (best first),
        then those without one, by ``material_id``, up to ``top`` in all.
    sort_field, top
        The ranking asked for.
    total
        Documents in the collection.
    matched
        Documents that pass the filters.
    unranked_shown
        Rows without a number in ``sort_field`` (listed last).
    no_score_hidden
        Documents that pass every filter but ``min_score``, because they have
        no storage score (no formation energy) to compare.
    """

    rows: list[dict[str, Any]]
    sort_field: str
    top: int
    total: int
    matched: int
    unranked_shown: int
    no_score_hidden: int

    @property
    def not_shown(self) -> int:
        """Matching documents beyond ``top``."""
        return self.matched - len(self.rows)

    def notes(self) -> list[str]:
        """Say in a line each what is left out or listed unranked, and why."""
        if self.total == 0:
            empty = (
                "the hydrides collection is empty: run `matforge ingest offline` "
                "or `matforge ingest files PATH`"
            )
            return [empty]
        out = []
        if self.unranked_shown:
            why = (
                "no formation energy, so no storage score (`matforge ingest files "
                "PATH --energies` computes one)"
                if self.sort_field == SCORE_FIELD
                else f"no value of {self.sort_field}"
            )
            out.append(f"{_entries(self.unranked_shown)} listed last, unranked: {why}")
        if self.no_score_hidden:
            out.append(
                f"{_entries(self.no_score_hidden)} without a storage score (no "
                "formation energy) left out by the minimum score"
            )
        if self.not_shown:
            out.append(
                f"{_entries(self.not_shown)} more match: showing {len(self.rows)} "
                f"of {self.matched} (raise --top)"
            )
        if self.matched == 0 and not self.no_score_hidden:
            out.append(f"none of the {self.total} hydrides match the filters")
        return out

    def as_dict(self) -> dict[str, Any]:
        """Return the listing as JSON-able data."""
        return {
            "rows": self.rows,
            "sort": self.sort_field,
            "top": self.top,
            "total": self.total,
            "matched": self.matched,
            "unranked_shown": self.unranked_shown,
            "no_score_hidden": self.no_score_hidden,
            "not_shown": self.not_shown,
            "notes": self.notes(),
        }


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def list_hydrides(
    store: Store,
    sort_field: str = SCORE_FIELD,
    top: int = 20,
    ascending: bool = False,
    elements: Sequence[str] = (),
    source: str | Sequence[str] | None = None,
    min_score: float | None = None,
    has_energy: bool | None = None,
    fields: Sequence[str] | None = None,
) -> HydrideListing:
    """List hydrides ranked by a field, the unranked ones after, with counts.

    Unlike :func:`top_documents`, entries without a number in ``sort_field``
    (files ingested without energies have no storage score) are not dropped
    silently: they follow the ranked ones, and the listing says how many it
    lists unranked, hides or cuts and why.

    Parameters
    ----------
    store
        The hydrides store.
    sort_field
        Field to rank by.
    top
        Most rows to return.
    ascending
        Smallest first instead of largest first.
    elements
        Keep entries whose ``elements`` hold all of these.
    source
        Keep entries of this source (or these sources): mp, offline, files,
        computed.
    min_score
        Keep entries whose storage score is at least this; entries without a
        score are then left out and counted in ``no_score_hidden``.
    has_energy
        True: only entries with a formation energy; False: only those without.
    fields
        Fields to return (all when None); ``material_id`` and ``sort_field``
        always are.
    """
    criteria: dict[str, Any] = {}
    if elements:
        criteria["elements"] = {"$all": list(elements)}
    sources = _as_list(source)
    if sources:
        criteria["source"] = {"$in": sources}
    if has_energy is True:
        criteria["formation_energy_per_atom"] = {"$ne": None}
    elif has_energy is False:
        criteria["formation_energy_per_atom"] = None
    projection = None
    if fields is not None:
        keep = {*fields, "material_id", sort_field, SCORE_FIELD}
        projection = dict.fromkeys(keep, 1) | {"_id": 0}
    ranked: list[tuple[float, str, dict[str, Any]]] = []
    unranked: list[tuple[float, str, dict[str, Any]]] = []
    matched = no_score_hidden = 0
    sign = 1.0 if ascending else -1.0
    for doc in store._collection.find(criteria, projection):
        doc.pop("_id", None)
        score = doc.get(SCORE_FIELD)
        if min_score is not None:
            if not _is_number(score):
                no_score_hidden += 1
                continue
            if score < min_score:
                continue
        matched += 1
        value = doc.get(sort_field)
        key = str(doc.get("material_id"))
        if _is_number(value):
            ranked.append((sign * float(value), key, doc))
            ranked = _best(ranked, top)
        else:
            unranked.append((0.0, key, doc))
            unranked = _best(unranked, top)
    rows = [doc for *_, doc in heapq.nsmallest(top, ranked, key=_order)]
    tail = heapq.nsmallest(max(top - len(rows), 0), unranked, key=_order)
    rows += [doc for *_, doc in tail]
    return HydrideListing(
        rows=rows,
        sort_field=sort_field,
        top=top,
        total=store.count(),
        matched=matched,
        unranked_shown=len(tail),
        no_score_hidden=no_score_hidden,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order(item: tuple[float, str, dict[str, Any]]) -> tuple[float, str]:
    return item[0], item[1]


def _best(
    items: list[tuple[float, str, dict[str, Any]]], top: int
) -> list[tuple[float, str, dict[str, Any]]]:
    """Keep the ``top`` best once the list holds twice as many (bounded memory)."""
    if len(items) <= 2 * max(top, 1):
        return items
    return heapq.nsmallest(top, items, key=_order)


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


FILE_SOURCES = ("files", "offline")  # sources whose rejects name a file
_RECORD_SUFFIX = re.compile(r"(\[[^\]]*\]|#\d+|:row \d+( \(.*\))?|:line \d+)$")


def file_of(input_name: str) -> str:
    """Return the file of a record name: ``a.json[3]``, ``b.cif#1``, ``c.csv:row 2``.

    For rejects stored before they recorded their file.
    """
    name = input_name
    while (match := _RECORD_SUFFIX.search(name)) is not None and match.start() > 0:
        name = name[: match.start()]
    return name


@dataclass
class SourceProvenance:
    """What one source contributed to ``hydrides``, and its rejects.

    Attributes
    ----------
    entries, with_energy, with_score, reduced
        Hydrides of the source; those with a formation energy; with a storage
        score; stored as the primitive cell of a larger input cell.
    energy_sources
        Entries per origin of their formation energy (the potential's name and
        version when computed at ingest, else the input's ``energy_source``).
    rejected
        Rejects of the source.
    rejects_by_file
        Per input file: the number of rejects and their most frequent reasons.
    """

    entries: int = 0
    with_energy: int = 0
    with_score: int = 0
    reduced: int = 0
    energy_sources: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    rejects_by_file: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ProvenanceReport:
    """Per source, what is in ``hydrides`` and what was rejected from which file."""

    sources: dict[str, SourceProvenance]
    reasons_per_file: int = 3

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-able data (``matforge db stats --json``)."""
        return {
            name: {
                "entries": s.entries,
                "with_energy": s.with_energy,
                "with_score": s.with_score,
                "without_energy": s.entries - s.with_energy,
                "reduced_to_primitive": s.reduced,
                "energy_sources": s.energy_sources,
                "rejected": s.rejected,
                "rejects_by_file": s.rejects_by_file,
            }
            for name, s in sorted(self.sources.items())
        }

    def lines(self) -> list[str]:
        """Return the report for a person, one line each."""
        out = []
        for name, s in sorted(self.sources.items()):
            out.append(
                f"{name}: {s.entries} hydrides, {s.with_energy} with a formation "
                f"energy, {s.with_score} with a storage score, {s.rejected} rejected"
            )
            out += [f"    energy from {k}: {n}" for k, n in s.energy_sources.items()]
            if s.entries > s.with_energy:
                out.append(
                    f"    {s.entries - s.with_energy} without energy: `matforge "
                    "ingest files PATH --energies` computes them"
                )
            for file, rejects in s.rejects_by_file.items():
                out.append(f"    rejected from {file}: {rejects['count']}")
                out += [
                    f"      {n} x {reason}" for reason, n in rejects["reasons"].items()
                ]
        return out


def provenance_report(
    hydrides: Store, rejects: Store, reasons_per_file: int = 3
) -> ProvenanceReport:
    """Count, per source, entries with energies and scores, and rejects per file.

    Parameters
    ----------
    hydrides, rejects
        The two stores.
    reasons_per_file
        How many of the most frequent reasons to keep per file.

    Returns
    -------
    ProvenanceReport
        One :class:`SourceProvenance` per source that has entries or rejects.
    """
    sources: dict[str, SourceProvenance] = {}
    wanted = (
        "source",
        "formation_energy_per_atom",
        "storage_score",
        "energy_source",
        "energy_potential",
        "nsites",
        "input_nsites",
    )
    for doc in scan_documents(hydrides, wanted):
        s = sources.setdefault(str(doc.get("source")), SourceProvenance())
        s.entries += 1
        if _is_number(doc.get("formation_energy_per_atom")):
            s.with_energy += 1
            origin = doc.get("energy_potential") or doc.get("energy_source")
            origin = str(origin or "the input (source not named)")
            s.energy_sources[origin] = s.energy_sources.get(origin, 0) + 1
        if _is_number(doc.get("storage_score")):
            s.with_score += 1
        if (doc.get("input_nsites") or 0) > (doc.get("nsites") or 0):
            s.reduced += 1
    per_file: dict[tuple[str, str], Counter[str]] = {}
    for doc in scan_documents(rejects, ("source", "stage", "input", "file", "reason")):
        source = str(doc.get("source"))
        s = sources.setdefault(source, SourceProvenance())
        s.rejected += 1
        file = doc.get("file")
        if not file and source in FILE_SOURCES:
            file = file_of(str(doc.get("input", "")))
        if not file:  # the API, or a stage's proposals: one group per stage
            file = f"(no file: stage {doc.get('stage', 'ingest')})"
        per_file.setdefault((source, file), Counter())[str(doc.get("reason"))] += 1
    for (source, file), reasons in sorted(per_file.items()):
        sources[source].rejects_by_file[file] = {
            "count": sum(reasons.values()),
            "reasons": dict(reasons.most_common(reasons_per_file)),
        }
    return ProvenanceReport(sources, reasons_per_file)


def has_document(store: Store, criteria: dict[str, Any] | None = None) -> bool:
    """Return whether a document matches (one ``find_one``, no full count).

    montydb decodes a whole collection to count it; this reads one document.
    """
    return store._collection.find_one(criteria or {}, {"_id": 1}) is not None


def mongo_collection(store: Store) -> Any:
    """Return the pymongo collection behind a MongoDB store (read-only servers)."""
    return store._collection
