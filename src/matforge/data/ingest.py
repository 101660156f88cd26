"""The ingest pipeline: raw records -> checks -> documents -> upserts.

Good records become :class:`HydrideDoc` documents in ``hydrides`` (upserted
by ``material_id``; unchanged ones keep their ``last_updated``); every bad one
becomes a :class:`RejectDoc` in ``rejects``. Nothing bad stops the run.

Each structure is reduced to its primitive cell (Niggli-reduced) before the
checks: the site limit, like MP-20's, counts primitive sites, and the stored
structure is the primitive cell, its input size kept in ``input_nsites``.

With :class:`IngestEnergies`, entries without a formation energy get one (and
an energy above the hull) from the caller's potential, in bounded batches, so
they are scored at once. Records stream through in bounded chunks: memory does
not grow with the number of inputs.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from matforge.core.checks import energy_problem, hydride_problems, lattice_problems
from matforge.core.chemistry import plain_elements, unknown_species
from matforge.core.features import analyse_symmetry
from matforge.core.geometry import primitive_cell
from matforge.data.records import RawRecord
from matforge.schemas import BuildMeta, HydrideDoc, RejectDoc
from matforge.stores.writes import stored_values, upsert_documents

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from matforge.settings import MatforgeSettings
    from matforge.stores.factory import StoreFactory

BATCH = 500
CHUNK = 250  # records per task of a worker process
IN_FLIGHT = 2  # chunks queued per worker process: bounds the read-ahead

EnergyResult = tuple[float | None, float | None]
"""(formation energy per atom, energy above the hull), eV/atom; None: unknown."""
EnergyFunction = Callable[[Sequence["Structure"]], Sequence[EnergyResult]]
"""Turns a batch of structures into one EnergyResult each, in order."""


@dataclass(frozen=True)
class IngestEnergies:
    """How ingest computes the energies of entries that come without one.

    Attributes
    ----------
    compute
        Called with at most ``batch_size`` structures (the stored primitive
        cells) at a time; returns one ``(formation_energy_per_atom,
        e_above_hull)`` per structure, in order, None for one it could not
        compute. It may raise: the whole batch is then stored without energies
        and the reason reported.
    potential, version
        The potential's name and version, stored on every entry it computed.
    batch_size
        Structures per call: bounds the memory the potential needs.
    replace
        Also recompute entries whose input gives a formation energy.
    """

    compute: EnergyFunction
    potential: str
    version: str
    batch_size: int = 32
    replace: bool = False

    @property
    def label(self) -> str:
        """The potential's name and version, as stored."""
        return f"{self.potential} {self.version}"


@dataclass
class IngestSummary:
    """What an ingest did."""

    read: int = 0
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectDoc] = field(default_factory=list)
    without_energy: int = 0
    repeated: int = 0
    reduced: int = 0
    energy_potential: str | None = None
    energies_computed: int = 0
    energy_failures: list[tuple[str, str]] = field(default_factory=list)

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
            "reduced_to_primitive": self.reduced,
            "repeated": self.repeated,
            "without_energy": self.without_energy,
            "energies": {
                "potential": self.energy_potential,
                "computed": self.energies_computed,
                "failed": [
                    {"input": name, "reason": reason}
                    for name, reason in self.energy_failures
                ],
            },
            "hint": self.energy_hint(),
        }

    def energy_hint(self) -> str | None:
        """Say how many entries have no energy and how to give them one."""
        if not self.without_energy:
            return None
        if self.energy_potential is None:
            how = (
                "add `--energies` to `matforge ingest files` to compute them with "
                "the configured potential (`--potential NAME` for another), or give "
                "formation_energy_per_atom in the input"
            )
        else:
            how = f"{self.energy_potential} could not compute them (see above)"
        return (
            f"{self.without_energy} of the {self.ingested + self.updated} entries "
            "written have no formation energy, so no storage score (`matforge "
            f"query` lists them after the scored ones): {how}"
        )

    def lines(self) -> list[str]:
        """Return the summary for a person, one line each (the CLI prints them)."""
        counts = (
            f"read {self.read}: ingested {self.ingested}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {len(self.rejected)}"
        )
        out = [counts]
        out += [f"  rejected {r.input}: {r.reason}" for r in self.rejected]
        if self.reduced:
            out.append(
                f"{self.reduced} structure(s) stored as their primitive cell "
                "(input_nsites keeps the size of the cell as written)"
            )
        if self.repeated:
            out.append(
                f"{self.repeated} record(s) repeat an entry read before in this "
                "ingest (same material_id, the same crystal): the last one is stored"
            )
        if self.energy_potential is not None:
            out.append(
                f"energies: {self.energies_computed} computed with "
                f"{self.energy_potential}, {len(self.energy_failures)} failed"
            )
            out += [f"  no energy for {n}: {why}" for n, why in self.energy_failures]
        if (hint := self.energy_hint()) is not None:
            out.append(hint)
        return out


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _checked_primitive(
    structure: Structure, settings: MatforgeSettings
) -> tuple[Structure, Any, list[str]]:
    """Reduce a structure to its primitive cell and check that.

    Returns
    -------
    primitive, symmetry, problems
        The primitive cell (the structure itself when broken, disordered or
        already primitive), its symmetry (None when not analysed) and the
        reasons it is no acceptable metal hydride.
    """
    ingest = settings.ingest
    if (
        lattice_problems(structure)
        or not structure.is_ordered
        or unknown_species(structure.composition)
    ):
        # no primitive cell to look for: report what is wrong with the input
        problems = hydride_problems(structure, ingest.max_sites, ingest.min_distance)
        return structure, None, problems
    symmetry = analyse_symmetry(structure, ingest.symprec)
    primitive = primitive_cell(structure, ingest.symprec, symmetry.n_primitive)
    if primitive is not structure:
        symmetry = analyse_symmetry(primitive, ingest.symprec)
    problems = hydride_problems(
        primitive, ingest.max_sites, ingest.min_distance, primitive=True
    )
    return primitive, symmetry, problems


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
        The document (its structure the primitive cell), or the reject with
        every reason found.
    """

    def reject(reason: str) -> RejectDoc:
        snippet = record.snippet
        if not snippet and record.structure is not None:
            snippet = (
                str(record.structure.composition.formula)
                + " "
                + repr(record.structure.lattice.abc)
            )
        return RejectDoc.from_input(
            record.input, reason, snippet, source=source, file=record.file
        )

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
        structure, notes = plain_elements(record.structure)
        primitive, symmetry, problems = _checked_primitive(structure, settings)
    except Exception as exc:  # a structure too odd for the checks themselves
        return reject(f"could not check the structure: {exc}")
    if problems or energy_reasons:
        return reject("; ".join(problems + energy_reasons))
    try:
        return HydrideDoc.from_structure(
            primitive,
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
            symmetry=symmetry,
            input_nsites=len(structure),
            notes=[*record.notes, *notes],
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
    only when there is a second one, so small ingests pay no start-up cost. At
    most ``IN_FLIGHT`` chunks per worker are read ahead of the results, so a
    long input never sits in memory whole.
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
        window: deque[Any] = deque()
        for chunk in chunks:
            window.append(pool.apply_async(convert, (chunk,)))
            if len(window) >= IN_FLIGHT * workers:
                yield from window.popleft().get()
        while window:
            yield from window.popleft().get()


class _EnergyBatcher:
    """Collects documents without energies and computes them a batch at a time."""

    def __init__(
        self,
        energies: IngestEnergies,
        settings: MatforgeSettings,
        summary: IngestSummary,
    ) -> None:
        self.energies = energies
        self.settings = settings
        self.summary = summary
        self.pending: list[HydrideDoc] = []

    def wants(self, doc: dict[str, Any]) -> bool:
        """Whether a document needs the potential."""
        return self.energies.replace or doc.get("formation_energy_per_atom") is None

    def add(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """Queue a document; return the documents finished by a full batch."""
        self.pending.append(HydrideDoc.model_validate(doc))
        if len(self.pending) >= self.energies.batch_size:
            return self.finish()
        return []

    def finish(self) -> list[dict[str, Any]]:
        """Compute the queued documents' energies; return them as dicts."""
        if not self.pending:
            return []
        energies = self.energies
        docs, self.pending = self.pending, []
        reason = "the potential gave no energy"
        try:
            results = list(energies.compute([d.structure for d in docs]))
            if len(results) != len(docs):
                raise ValueError(f"{len(results)} results for {len(docs)} structures")
        except Exception as exc:
            results = [(None, None)] * len(docs)
            reason = f"{energies.potential} failed on this batch: {exc}"
        out = []
        score = self.settings.score
        for doc, (e_form, e_hull) in zip(docs, results, strict=True):
            if e_form is None or not math.isfinite(e_form):
                self.summary.energy_failures.append((doc.origin, reason))
                out.append(doc.model_dump())
                continue
            hull = e_hull if e_hull is not None and math.isfinite(e_hull) else None
            done = doc.with_energies(
                float(e_form),
                None if hull is None else float(hull),
                energy_source=f"ML potential {energies.label}, computed at ingest",
                energy_potential=energies.label,
                e_threshold=score.e_threshold,
                sigma=score.sigma,
            )
            self.summary.energies_computed += 1
            out.append(done.model_dump())
        return out


def ingest_records(
    records: Iterable[RawRecord],
    factory: StoreFactory,
    source: str,
    inputs: list[str],
    progress: Callable[[int], None] | None = None,
    energies: IngestEnergies | None = None,
) -> IngestSummary:
    """Check, convert and upsert records into ``hydrides`` and ``rejects``.

    Parameters
    ----------
    records
        Raw records from any reader (an iterator: read as they come).
    factory
        The store factory (its settings hold the filters).
    source
        The ingest route, recorded on every document.
    inputs
        The inputs named on the build metadata.
    progress
        Called with the number of records handled since the last call.
    energies
        Compute the energies of entries without one with this potential.

    Returns
    -------
    IngestSummary
        Counts and the rejects.
    """
    settings = factory.settings
    build_settings: dict[str, Any] = {
        "ingest": settings.ingest.model_dump(),
        "score": settings.score.model_dump(),
    }
    if energies is not None:
        build_settings["energies"] = {
            "potential": energies.potential,
            "version": energies.version,
            "batch_size": energies.batch_size,
            "replace": energies.replace,
        }
    build = BuildMeta(inputs=inputs, settings=build_settings)
    hydrides = factory.store("hydrides")
    rejects = factory.store("rejects")
    summary = IngestSummary(
        energy_potential=energies.label if energies is not None else None
    )
    batcher = (
        _EnergyBatcher(energies, settings, summary) if energies is not None else None
    )
    docs: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    seen: set[str] = set()

    # montydb has no index: read the stored ids and hashes once, not per batch
    known = (
        stored_values(hydrides, "material_id", None, "content_hash")
        if factory.backend == "embedded"
        else None
    )

    def flush() -> None:
        if docs:
            summary.without_energy += sum(
                1 for d in docs if d.get("formation_energy_per_atom") is None
            )
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
        elif doc is not None:
            if doc["material_id"] in seen:
                summary.repeated += 1
            seen.add(doc["material_id"])
            if doc.get("input_nsites", doc["nsites"]) > doc["nsites"]:
                summary.reduced += 1
            if batcher is not None and batcher.wants(doc):
                docs.extend(batcher.add(doc))
            else:
                docs.append(doc)
        if len(docs) >= BATCH or len(bad) >= BATCH:
            flush()
        if progress is not None:
            progress(1)
    if batcher is not None:
        docs.extend(batcher.finish())
    flush()
    return summary
