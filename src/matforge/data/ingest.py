"""The ingest pipeline: raw records -> checks -> documents -> upserts.

Good records become :class:`HydrideDoc` documents in ``hydrides`` (upserted
by ``material_id``; unchanged ones keep their ``last_updated``); every bad one
becomes a :class:`RejectDoc` in ``rejects``. Nothing bad stops the run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from matforge.core.checks import energy_problem, hydride_problems
from matforge.data.records import RawRecord
from matforge.schemas import BuildMeta, HydrideDoc, RejectDoc
from matforge.stores.writes import stored_values, upsert_documents

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores.factory import StoreFactory

BATCH = 500
CHUNK = 250  # records per task of a worker process


@dataclass
class IngestSummary:
    """What an ingest did."""

    read: int = 0
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectDoc] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Records that are now in the hydrides collection."""
        return self.ingested + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        """Return the summary printed by ``matforge ingest --json``."""
        return {
            "read": self.read,
            "ingested": self.ingested,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"input": r.input, "reason": r.reason} for r in self.rejected],
        }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def document_from_record(
    record: RawRecord, source: str, settings: MatforgeSettings, build: BuildMeta
) -> HydrideDoc | RejectDoc:
    """Check one raw record and turn it into a hydride or a reject (pure).

    Parameters
    ----------
    record
        What a reader found.
    source
        The ingest route (mp, offline, files).
    settings
        Filters (``settings.ingest``) and score parameters (``settings.score``).
    build
        Build metadata shared by the documents of one run.

    Returns
    -------
    HydrideDoc or RejectDoc
        The document, or the reject with every reason found.
    """

    def reject(reason: str) -> RejectDoc:
        snippet = record.snippet
        if not snippet and record.structure is not None:
            snippet = (
                str(record.structure.composition.formula)
                + " "
                + repr(record.structure.lattice.abc)
            )
        return RejectDoc.from_input(record.input, reason, snippet, source=source)

    if record.error is not None or record.structure is None:
        return reject(record.error or "no structure in the input")
    energy_reasons = [
        reason
        for name, value in (
            ("formation_energy_per_atom", record.formation_energy_per_atom),
            ("e_above_hull", record.e_above_hull),
            ("band_gap", record.band_gap),
        )
        if (reason := energy_problem(name, value)) is not None
    ]
    try:
        problems = hydride_problems(
            record.structure, settings.ingest.max_sites, settings.ingest.min_distance
        )
    except Exception as exc:  # a structure too odd for the checks themselves
        return reject(f"could not check the structure: {exc}")
    if problems or energy_reasons:
        return reject("; ".join(problems + energy_reasons))
    try:
        return HydrideDoc.from_structure(
            record.structure,
            material_id=record.material_id,
            source=source,
            origin=record.input,
            licence=record.licence,
            provenance=record.provenance,
            formation_energy_per_atom=_number(record.formation_energy_per_atom),
            energy_source=record.energy_source,
            e_above_hull=_number(record.e_above_hull),
            band_gap=_number(record.band_gap),
            symprec=settings.ingest.symprec,
            e_threshold=settings.score.e_threshold,
            sigma=settings.score.sigma,
            build=build,
        )
    except Exception as exc:  # symmetry analysis or features of an odd structure
        return reject(f"could not analyse the structure: {exc}")


Converted = tuple[dict[str, Any] | None, RejectDoc | None]


def _convert_chunk(
    chunk: list[RawRecord], source: str, settings: MatforgeSettings, build: BuildMeta
) -> list[Converted]:
    out: list[Converted] = []
    for record in chunk:
        doc = document_from_record(record, source, settings, build)
        out.append(
            (None, doc) if isinstance(doc, RejectDoc) else (doc.model_dump(), None)
        )
    return out


def _chunks(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    chunk: list[RawRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def converted_records(
    records: Iterable[RawRecord],
    source: str,
    settings: MatforgeSettings,
    build: BuildMeta,
    workers: int = 1,
) -> Iterator[Converted]:
    """Convert records in input order, in worker processes for long inputs.

    The first chunk is converted here; a pool of ``workers`` processes starts
    only when there is a second one, so small ingests pay no start-up cost.
    """
    convert = partial(_convert_chunk, source=source, settings=settings, build=build)
    chunks = _chunks(records, CHUNK)
    first = next(chunks, None)
    if first is None:
        return
    yield from convert(first)
    if workers <= 1:
        for chunk in chunks:
            yield from convert(chunk)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        for converted in pool.imap(convert, chunks):
            yield from converted


def ingest_records(
    records: Iterable[RawRecord],
    factory: StoreFactory,
    source: str,
    inputs: list[str],
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Check, convert and upsert records into ``hydrides`` and ``rejects``.

    Parameters
    ----------
    records
        Raw records from any reader.
    factory
        The store factory (its settings hold the filters).
    source
        The ingest route, recorded on every document.
    inputs
        The inputs named on the build metadata.
    progress
        Called with the number of records handled since the last call.

    Returns
    -------
    IngestSummary
        Counts and the rejects.
    """
    settings = factory.settings
    build = BuildMeta(
        inputs=inputs,
        settings={
            "ingest": settings.ingest.model_dump(),
            "score": settings.score.model_dump(),
        },
    )
    hydrides = factory.store("hydrides")
    rejects = factory.store("rejects")
    summary = IngestSummary()
    docs: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []

    # montydb has no index: read the stored ids and hashes once, not per batch
    known = (
        stored_values(hydrides, "material_id", None, "content_hash")
        if factory.backend == "embedded"
        else None
    )

    def flush() -> None:
        if docs:
            result = upsert_documents(hydrides, docs, "material_id", stored=known)
            summary.ingested += len(result.inserted)
            summary.updated += len(result.updated)
            summary.unchanged += len(result.unchanged)
            docs.clear()
        if bad:
            upsert_documents(rejects, bad, "reject_id", hash_field="reason")
            bad.clear()

    workers = settings.ingest.workers or min(os.cpu_count() or 1, 4)
    for doc, reject in converted_records(records, source, settings, build, workers):
        summary.read += 1
        if reject is not None:
            summary.rejected.append(reject)
            bad.append(reject.model_dump())
        else:
            docs.append(doc)
        if len(docs) >= BATCH or len(bad) >= BATCH:
            flush()
        if progress is not None:
            progress(1)
    flush()
    return summary
