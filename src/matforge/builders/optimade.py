"""The OPTIMADE builder: candidates and hydrides -> optimade_structures.

``candidates`` (the ``candidate`` verdicts: valid, one per group of duplicates)
and ``hydrides`` -> ``optimade_structures``, one OPTIMADE structures entry per
crystal (see :class:`~matforge.schemas.optimade.OptimadeStructureDoc`), which
``matforge serve`` publishes.

Incremental: a source document is converted when it is new, when its
``last_updated`` differs from the one its entry was made from, or when the
conversion's version changed; entries whose source is gone (or no longer a
``candidate``) are removed. Unchanged entries are not rewritten, so a second
run changes nothing. Every entry is checked as the server will publish it
(:func:`~matforge.schemas.optimade.served_entry`, optimade-python-tools'
``StructureResource``) before it is written. A crystal that cannot be
converted (a disordered one) or whose entry does not validate is skipped with
a warning and counted; the others are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maggma.core import Builder
from maggma.stores import MontyStore
from tqdm.auto import tqdm

from matforge.builders.summary import BuildSummary
from matforge.schemas.candidate import stamp
from matforge.schemas.common import BuildMeta, utcnow
from matforge.schemas.optimade import (
    CONVERSION_VERSION,
    PROVIDER_PREFIX,
    OptimadeStructureDoc,
    served_entry,
)
from matforge.stores.queries import scan_documents
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.stores.factory import StoreFactory

logger = logging.getLogger(__name__)

# Fields of the target that OPTIMADE queries filter and sort on most: indexed on
# MongoDB (montydb has no indexes; the in-process server keeps its own).
INDEXED_FIELDS = (
    "elements",
    "nelements",
    "chemical_formula_reduced",
    "kind",
    "storage_score",
    "e_above_hull",
    "last_modified",
)

_TARGET_INDEX = (
    "id",
    "source_collection",
    "source_last_updated",
    "conversion",
    "content_hash",
)


def _stamp(value: Any) -> datetime | None:
    return stamp(value) if isinstance(value, datetime) else None


def candidate_to_optimade(
    doc: dict[str, Any], build: BuildMeta | None = None
) -> dict[str, Any]:
    """Return the OPTIMADE entry (a plain dict) of a candidates document.

    Parameters
    ----------
    doc
        A stored candidates document with a structure.
    build
        Build metadata of the entry.
    """
    return OptimadeStructureDoc.from_candidate(doc, build).model_dump()


def hydride_to_optimade(
    doc: dict[str, Any], build: BuildMeta | None = None
) -> dict[str, Any]:
    """Return the OPTIMADE entry (a plain dict) of a hydrides document.

    Parameters
    ----------
    doc
        A stored hydrides document.
    build
        Build metadata of the entry.
    """
    return OptimadeStructureDoc.from_hydride(doc, build).model_dump()


_CONVERTERS = {"candidates": candidate_to_optimade, "hydrides": hydride_to_optimade}


@dataclass
class OptimadeBuildSummary(BuildSummary):
    """What one run of the OPTIMADE builder did."""

    failed: int = 0
    failures: list[str] = field(default_factory=list)


class OptimadeBuilder(Builder):
    """Convert candidates and hydrides into OPTIMADE structures entries.

    Parameters
    ----------
    candidates
        Source: the candidates verdicts (key ``candidate_id``); only those with
        status ``candidate`` are served.
    target
        Target: the OPTIMADE entries (key ``id``).
    hydrides
        Source: the hydrides (key ``material_id``), or None to serve the
        candidates alone.
    chunk_size
        Source documents per read and entries per write.
    """

    def __init__(
        self,
        candidates: Store,
        target: Store,
        hydrides: Store | None = None,
        chunk_size: int = 500,
    ) -> None:
        self.candidates = candidates
        self.hydrides = hydrides
        self.target = target
        self.summary = OptimadeBuildSummary()
        self._sources: dict[str, tuple[Store, str]] = {
            "candidates": (candidates, "candidate_id")
        }
        if hydrides is not None:
            self._sources["hydrides"] = (hydrides, "material_id")
        self._indexed = False
        self._build: BuildMeta | None = None
        # id -> content hash of the stored entries, read once by get_items and
        # kept up to date by the writes (montydb would scan per batch otherwise)
        self._hashes: dict[str, Any] | None = None
        super().__init__(
            sources=[s for s, _ in self._sources.values()],
            targets=[target],
            chunk_size=chunk_size,
        )

    @classmethod
    def from_factory(cls, factory: StoreFactory) -> OptimadeBuilder:
        """Return the builder on the factory's stores."""
        return cls(
            candidates=factory.store("candidates"),
            target=factory.store("optimade_structures"),
            hydrides=factory.store("hydrides"),
        )

    def _build_meta(self) -> BuildMeta:
        if self._build is None:
            self._build = BuildMeta(
                inputs=list(self._sources),
                settings={
                    "provider_prefix": PROVIDER_PREFIX,
                    "conversion": CONVERSION_VERSION,
                },
                # the optimade adapter shapes the entries
                versions=BuildMeta().versions | _optimade_version(),
            )
        return self._build

    # -- reading -----------------------------------------------------------
    def _wanted(self) -> dict[str, tuple[str, datetime | None]]:
        """Return entry id -> (source collection, source last_updated)."""
        wanted: dict[str, tuple[str, datetime | None]] = {}
        for name, (store, key) in self._sources.items():
            fields = (key, "last_updated", "status")
            for doc in scan_documents(store, fields):
                if name == "candidates" and doc.get("status") != "candidate":
                    continue
                wanted[str(doc[key])] = (name, _stamp(doc.get("last_updated")))
        return wanted

    def get_items(self) -> Iterator[dict[str, Any]]:
        """Yield the ids to remove, then one item per source document to convert.

        Items are ``{"removed": [ids]}`` (at most one) and
        ``{"collection": name, "doc": source document}``.
        """
        stored = {
            d["id"]: d for d in scan_documents(self.target, _TARGET_INDEX) if "id" in d
        }
        self._hashes = {i: d.get("content_hash") for i, d in stored.items()}
        wanted = self._wanted()
        removed = sorted(set(stored) - set(wanted))
        if removed:
            yield {"removed": removed}
        todo: dict[str, set[str]] = {name: set() for name in self._sources}
        for entry_id, (name, when) in wanted.items():
            old = stored.get(entry_id)
            if (
                old is None
                or old.get("source_collection") != name
                or _stamp(old.get("source_last_updated")) != when
                or old.get("conversion") != CONVERSION_VERSION
            ):
                todo[name].add(entry_id)
        for name, ids in todo.items():
            store, key = self._sources[name]
            # one pass over the source on montydb, batches of ids elsewhere
            for doc in scan_documents(store, _source_fields(name), key, ids):
                yield {"collection": name, "doc": doc}

    # -- converting (pure) -------------------------------------------------
    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """Convert one source document (no database).

        Returns
        -------
        dict
            ``doc`` (the entry, or None), ``error`` (why it could not be
            converted, or None) and ``removed`` (ids to delete).
        """
        if "removed" in item:
            return {"doc": None, "error": None, "removed": list(item["removed"])}
        name = item["collection"]
        source = item["doc"]
        store_key = self._sources[name][1]
        try:
            doc = _CONVERTERS[name](source, self._build_meta())
            served_entry(doc)  # what the server will publish must be OPTIMADE
        except (ValueError, KeyError, TypeError) as exc:
            reason = f"{name} {source.get(store_key)}: {exc}"
            logger.warning("cannot serve %s", reason)
            return {"doc": None, "error": reason, "removed": []}
        doc["last_updated"] = utcnow()
        return {"doc": doc, "error": None, "removed": []}

    # -- writing -----------------------------------------------------------
    def _ensure_indexes(self) -> None:
        if self._indexed or isinstance(self.target, MontyStore):
            return
        for name in INDEXED_FIELDS:
            self.target.ensure_index(name)
        self._indexed = True

    def update_targets(self, items: list[dict[str, Any]]) -> None:
        """Upsert the entries (unchanged ones are left alone) and drop orphans."""
        summary = self.summary
        docs = [item["doc"] for item in items if item["doc"] is not None]
        removed = [i for item in items for i in item["removed"]]
        for item in items:
            if item["error"] is not None:
                summary.failed += 1
                summary.failures.append(item["error"])
            if item["error"] is not None or item["doc"] is not None:
                summary.processed += 1
        if docs:
            self._ensure_indexes()
            result = upsert_documents(self.target, docs, "id", stored=self._hashes)
            summary.count_upsert(result)
        if removed:
            self.target.remove_docs({"id": {"$in": removed}})
            summary.removed += len(removed)
            if self._hashes is not None:
                for entry_id in removed:
                    self._hashes.pop(entry_id, None)
        summary.stop_clock()

    def finalize(self) -> None:
        """Leave the stores open: they belong to the store factory."""
        self.summary.stop_clock()


def _source_fields(name: str) -> tuple[str, ...]:
    if name == "candidates":
        return (
            "candidate_id",
            "structure",
            "last_updated",
            "storage_score",
            "h_weight_fraction",
            "formation_energy_per_atom",
            "formation_energy_dft_per_atom",
            "e_above_hull",
            "decomposition",
            "is_stable",
            "is_novel",
            "matched_id",
            "same_formula",
            "same_ratio",
            "run_id",
            "potential",
            "spacegroup_symbol",
            "spacegroup_number",
        )
    return (
        "material_id",
        "structure",
        "last_updated",
        "source",
        "licence",
        "storage_score",
        "h_weight_fraction",
        "formation_energy_per_atom",
        "e_above_hull",
        "decomposition",
        "computed",
        "spacegroup_symbol",
        "spacegroup_number",
    )


def _optimade_version() -> dict[str, str]:
    from importlib import metadata

    try:
        return {"optimade": metadata.version("optimade")}
    except metadata.PackageNotFoundError:
        return {}


def build_optimade(
    factory: StoreFactory, progress: bool | None = None
) -> OptimadeBuildSummary:
    """Build the optimade_structures collection from candidates and hydrides.

    Parameters
    ----------
    factory
        The store factory (its database).
    progress
        Show a progress bar (None: only on a terminal).

    Returns
    -------
    OptimadeBuildSummary
        Counts of what was converted, written, left alone and removed.
    """
    builder = OptimadeBuilder.from_factory(factory)
    chunk: list[dict[str, Any]] = []
    bar = tqdm(
        builder.get_items(),
        desc="optimade entries",
        unit="entry",
        disable=None if progress is None else not progress,
    )
    for item in bar:
        chunk.append(builder.process_item(item))
        if len(chunk) >= builder.chunk_size:
            builder.update_targets(chunk)
            chunk = []
    builder.update_targets(chunk)
    builder.finalize()
    return builder.summary
