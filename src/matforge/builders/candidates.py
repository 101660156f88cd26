"""The candidates builder: relaxed crystals -> validity, duplicates, novelty.

``relaxed`` (+ the known materials in ``hydrides`` and ``references``, and
the DFT validations in ``dft_tasks``) -> ``candidates``, one document per
relaxed document (see :class:`~matforge.schemas.candidate.CandidateDoc`).

Incremental: an item is one reduced formula that holds something new -- a
relaxed document that is new or changed (``last_updated``), one that was
removed, new or changed known materials of that formula (their ids and dates),
or other settings. Only those relaxed documents are judged; the settled
candidates of the same formula are read so that duplicates of earlier runs are
found, and their grouping is reused instead of being compared again. Unchanged
verdicts are not rewritten, so a second run changes nothing.

DFT: the latest successful ``candidate`` task of ``dft_tasks`` for a relaxed
document (joined on ``relaxed_id``) gives its candidate's DFT formation energy
and squared error. A new DFT task only re-stamps its own candidate: the verdict
and the grouping stay, nothing is compared again.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maggma.core import Builder
from pymatgen.core import Composition, Structure

from matforge.builders.summary import BuildSummary
from matforge.core.dedup import DedupStats, duplicate_groups
from matforge.core.features import analyse_symmetry
from matforge.core.novelty import (
    MatchEntry,
    Novelty,
    assess_novelty,
    known_compositions,
    known_materials,
    make_matcher,
)
from matforge.core.score import h_weight_fraction, storage_score
from matforge.core.validity import candidate_problems
from matforge.data.phases import offline_phases
from matforge.data.references import known_documents
from matforge.schemas.candidate import CandidateDoc, stamp
from matforge.schemas.common import BuildMeta, content_hash, utcnow
from matforge.schemas.relaxed import RelaxedDoc
from matforge.settings import CandidateSettings, ScoreSettings
from matforge.stores.queries import scan_documents
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.stores.factory import StoreFactory

logger = logging.getLogger(__name__)

# What is read of each collection to find the work.
_RELAXED_INDEX = ("relaxed_id", "last_updated", "reduced_formula")
_CANDIDATE_INDEX = (
    "candidate_id",
    "reduced_formula",
    "relaxed_last_updated",
    "known_signature",
    "settings_hash",
    "status",
    "duplicate_of",
    "dft_task_id",
    "e_above_hull_dft",
)
_DFT_INDEX = (
    "task_id",
    "relaxed_id",
    "formation_energy_per_atom",
    "e_above_hull",
    "last_updated",
    "purpose",
    "state",
)
_KNOWN_INDEX = ("reduced_formula", "last_updated")


def _stamp(value: Any) -> datetime | None:
    return stamp(value) if isinstance(value, datetime) else None


@dataclass
class CandidateBuildSummary(BuildSummary):
    """What one run of the candidates builder did."""

    groups: int = 0
    pairs_in_buckets: int = 0
    pairs_compared: int = 0
    pairs_matched: int = 0


class CandidateBuilder(Builder):
    """Judge relaxed crystals: validity, duplicates, novelty, score and flags.

    Parameters
    ----------
    relaxed
        Source: the relaxed documents (key ``relaxed_id``).
    candidates
        Target: the verdicts (key ``candidate_id``).
    known
        Sources of known materials (key ``material_id``): ``hydrides`` and
        ``references``.
    settings
        The ``candidates`` settings (filters, matcher tolerances), as a dict.
    score
        The ``score`` settings (storage-score parameters), as a dict.
    symprec
        Symmetry tolerance (angstrom) of the space groups.
    chunk_size
        Reduced formulas per read and write.
    dft_tasks
        Source of DFT validations (key ``task_id``), or None.
    known_formulas
        Reduced formula -> ids of the materials known only by composition (the
        Materials Project's offline compositions): they count for "same ratio"
        and the known id, never for a structure match.
    """

    def __init__(
        self,
        relaxed: Store,
        candidates: Store,
        known: list[Store],
        settings: dict[str, Any] | None = None,
        score: dict[str, Any] | None = None,
        symprec: float = 0.1,
        chunk_size: int = 200,
        dft_tasks: Store | None = None,
        known_formulas: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self.relaxed = relaxed
        self.known_formulas = known_formulas
        self.candidates = candidates
        self.known = list(known)
        self.dft_tasks = dft_tasks
        self._params = CandidateSettings.model_validate(settings or {})
        self._score = ScoreSettings.model_validate(score or {})
        self.settings = self._params.model_dump()
        self.score = self._score.model_dump()
        self.symprec = symprec
        # what shapes a verdict; the references file shows in the known signature
        judged = {k: v for k, v in self.settings.items() if k != "references_file"}
        self.settings_hash = content_hash(
            {"candidates": judged, "score": self.score, "symprec": symprec}
        )[:16]
        extra = [dft_tasks] if dft_tasks is not None else []
        self._inputs = [
            relaxed.collection_name,
            *(s.collection_name for s in [*known, *extra]),
        ]
        self.summary = CandidateBuildSummary()
        super().__init__(
            sources=[relaxed, *self.known, *extra],
            targets=[candidates],
            chunk_size=chunk_size,
        )

    @classmethod
    def from_factory(cls, factory: StoreFactory) -> CandidateBuilder:
        """Return the builder on the factory's stores and settings."""
        settings = factory.settings
        return cls(
            relaxed=factory.store("relaxed"),
            candidates=factory.store("candidates"),
            known=[factory.store("hydrides"), factory.store("references")],
            dft_tasks=factory.store("dft_tasks"),
            settings=settings.candidates.model_dump(),
            score=settings.score.model_dump(),
            symprec=settings.ingest.symprec,
            known_formulas=offline_phases(
                settings.shared_data_dir(),
                include_mp20=settings.candidates.phases_include_mp20,
            ).ids_with_formula,
        )

    # -- reading -----------------------------------------------------------------
    def _known_signatures(self) -> dict[str, str]:
        rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for store in self.known:
            for doc in scan_documents(store, (store.key, *_KNOWN_INDEX)):
                when = _stamp(doc.get("last_updated"))
                rows[doc.get("reduced_formula", "")].append(
                    (store.collection_name, str(doc[store.key]), str(when))
                )
        return {rf: content_hash(sorted(r))[:16] for rf, r in rows.items()}

    def _dft_index(self) -> dict[str, dict[str, Any]]:
        """Return relaxed_id -> its latest successful DFT validation."""
        if self.dft_tasks is None:
            return {}
        latest: dict[str, dict[str, Any]] = {}
        for doc in scan_documents(self.dft_tasks, _DFT_INDEX):
            rid = doc.get("relaxed_id")
            value = doc.get("formation_energy_per_atom")
            if (
                not rid
                or doc.get("purpose") != "candidate"
                or doc.get("state") != "successful"
                or not isinstance(value, int | float)
            ):
                continue
            key = (_stamp(doc.get("last_updated")), doc["task_id"])
            old = latest.get(rid)
            if old is None or key > old["_key"]:
                latest[rid] = {
                    "task_id": doc["task_id"],
                    "e_form": float(value),
                    "e_hull": doc.get("e_above_hull"),
                    "_key": key,
                }
        return {
            rid: {k: v for k, v in d.items() if k != "_key"}
            for rid, d in latest.items()
        }

    def get_items(self) -> Iterator[dict[str, Any]]:
        """Yield one item per reduced formula with new work.

        Each item holds the relaxed documents to judge (``fresh``), the settled
        valid candidates of the formula (their grouping still holds), the known
        materials of the formula and the ids of verdicts whose relaxed document
        is gone; ``dft`` the DFT validations of the formula's relaxed documents
        and ``restamp`` the invalid verdicts whose DFT validation changed.
        """
        self.summary = CandidateBuildSummary()
        relaxed_index = {
            d["relaxed_id"]: (_stamp(d.get("last_updated")), d.get("reduced_formula"))
            for d in scan_documents(self.relaxed, _RELAXED_INDEX)
        }
        stored = {
            d["candidate_id"]: d
            for d in scan_documents(self.candidates, _CANDIDATE_INDEX)
        }
        signatures = self._known_signatures()
        no_known = content_hash([])[:16]
        dft = self._dft_index()

        fresh: set[str] = set()
        for rid, (when, rf) in relaxed_index.items():
            old = stored.get(rid)
            if (
                old is None
                or _stamp(old.get("relaxed_last_updated")) != when
                or old.get("settings_hash") != self.settings_hash
                or old.get("reduced_formula") != rf
                or old.get("known_signature") != signatures.get(rf, no_known)
            ):
                fresh.add(rid)
        removed = set(stored) - set(relaxed_index)
        # a group that lost or changed a member is grouped again from scratch
        label = {
            cid: doc.get("duplicate_of") or cid
            for cid, doc in stored.items()
            if doc.get("status") != "invalid"
        }
        broken = {label[cid] for cid in fresh | removed if cid in label}
        fresh |= {cid for cid, lab in label.items() if lab in broken}
        fresh &= set(relaxed_index)
        # a new DFT validation re-stamps its candidate, nothing else
        restamp = {
            cid
            for cid, doc in stored.items()
            if cid in relaxed_index
            and cid not in fresh
            and (
                doc.get("dft_task_id") != (dft.get(cid) or {}).get("task_id")
                or doc.get("e_above_hull_dft") != (dft.get(cid) or {}).get("e_hull")
            )
        }

        formulas = {relaxed_index[rid][1] for rid in fresh}
        formulas |= {stored[cid]["reduced_formula"] for cid in restamp}
        formulas |= {stored[cid]["reduced_formula"] for cid in removed}
        formulas |= {stored[cid]["reduced_formula"] for cid in fresh if cid in stored}
        ordered = sorted(f for f in formulas if f is not None)
        self.total = len(ordered)
        logger.info(
            "%d relaxed documents to judge in %d reduced formulas; %d removed; "
            "%d new DFT values",
            len(fresh),
            len(ordered),
            len(removed),
            len(restamp),
        )
        for start in range(0, len(ordered), self.chunk_size):
            batch = set(ordered[start : start + self.chunk_size])
            yield from self._items(
                batch, fresh, removed, stored, signatures, no_known, dft, restamp
            )

    def _items(
        self,
        formulas: set[str],
        fresh: set[str],
        removed: set[str],
        stored: dict[str, dict[str, Any]],
        signatures: dict[str, str],
        no_known: str,
        dft: dict[str, dict[str, Any]],
        restamp: set[str],
    ) -> Iterator[dict[str, Any]]:
        by_formula: dict[str, dict[str, list[Any]]] = {
            rf: {"fresh": [], "settled": [], "known": [], "removed": [], "restamp": []}
            for rf in formulas
        }
        fields = [f for f in RelaxedDoc.model_fields if f != "initial_structure"]
        for doc in scan_documents(self.relaxed, fields, "relaxed_id", fresh):
            if doc.get("reduced_formula") in by_formula:
                by_formula[doc["reduced_formula"]]["fresh"].append(doc)
        settled_ids = {
            cid
            for cid, doc in stored.items()
            if doc.get("reduced_formula") in formulas
            and doc.get("status") != "invalid"
            and cid not in fresh
            and cid not in removed
        }
        invalid_restamp = {
            cid
            for cid in restamp
            if stored[cid].get("status") == "invalid"
            and stored[cid].get("reduced_formula") in formulas
        }
        for doc in scan_documents(
            self.candidates,
            CandidateDoc.model_fields,
            "candidate_id",
            settled_ids | invalid_restamp,
        ):
            kind = "restamp" if doc["candidate_id"] in invalid_restamp else "settled"
            by_formula[doc["reduced_formula"]][kind].append(doc)
        for rf, docs in known_documents(self.known, formulas).items():
            by_formula[rf]["known"] = docs
        for cid in removed:
            rf = stored[cid]["reduced_formula"]
            if rf in by_formula:
                by_formula[rf]["removed"].append(cid)
        for rf in sorted(formulas):
            group = by_formula[rf]
            group["fresh"].sort(key=lambda d: d["relaxed_id"])
            group["settled"].sort(key=lambda d: d["candidate_id"])
            group["restamp"].sort(key=lambda d: d["candidate_id"])
            ids = [d["relaxed_id"] for d in group["fresh"]]
            ids += [d["candidate_id"] for d in group["settled"] + group["restamp"]]
            yield {
                "reduced_formula": rf,
                "known_signature": signatures.get(rf, no_known),
                "known_compositions": list(self.known_formulas(rf))
                if self.known_formulas is not None
                else [],
                "dft": {rid: dft[rid] for rid in ids if rid in dft},
                **group,
            }

    # -- judging (pure) ----------------------------------------------------------
    def _build_meta(self) -> BuildMeta:
        return BuildMeta(
            inputs=list(self._inputs),
            settings={
                "candidates": self.settings,
                "score": self.score,
                "symprec": self.symprec,
            },
        )

    def _judge(
        self,
        doc: dict[str, Any],
        known: list,
        matcher: Any,
        signature: str,
        build: BuildMeta,
        now: datetime,
    ) -> tuple[CandidateDoc, MatchEntry | None]:
        """Return the verdict on one relaxed document, and its match entry if valid."""
        p = self._params
        raw_structure = doc.get("structure")
        structure = Structure.from_dict(raw_structure) if raw_structure else None
        composition = (
            structure.composition
            if structure is not None
            else Composition(doc["formula"])
        )
        e_form = doc.get("formation_energy_per_atom")
        e_hull = doc.get("e_above_hull")
        problems = candidate_problems(
            structure,
            composition,
            failed=bool(doc.get("failed")),
            failure_reason=doc.get("failure_reason"),
            converged=bool(doc.get("converged")),
            formation_energy_per_atom=e_form,
            e_above_hull=e_hull,
            **p.validity_rules(),
        )
        entry = None
        symbol = number = None
        if not problems and structure is not None:
            symmetry = analyse_symmetry(structure, self.symprec)
            symbol, number = symmetry.symbol, symmetry.number
            entry = MatchEntry(doc["relaxed_id"], structure, spacegroup=number)
        novelty: Novelty = assess_novelty(
            structure if entry is not None else None,
            composition,
            known,
            matcher,
            entry,
        )
        score = None
        w_h = 0.0
        if composition["H"]:
            w_h = h_weight_fraction(composition)
            if e_form is not None and math.isfinite(e_form):
                score = storage_score(
                    composition, e_form, self._score.e_threshold, self._score.sigma
                ).storage_score
        stable = None if e_hull is None else bool(e_hull <= p.stable_e_above_hull)
        metastable = (
            None
            if e_hull is None
            else bool(not stable and e_hull <= p.max_e_above_hull)
        )
        verdict = CandidateDoc(
            candidate_id=doc["relaxed_id"],
            relaxed_id=doc["relaxed_id"],
            generated_id=doc["generated_id"],
            run_id=doc.get("run_id"),
            status="invalid" if problems else "candidate",
            reasons=problems,
            structure=structure,
            formula=novelty.formula,
            reduced_formula=novelty.reduced_formula,
            elements=sorted(el.symbol for el in composition.elements),
            nsites=int(composition.num_atoms),
            reduced_nsites=entry.bucket(matcher)[1] if entry is not None else None,
            spacegroup_symbol=symbol,
            spacegroup_number=number,
            formation_energy_per_atom=e_form,
            e_above_hull=e_hull,
            decomposition=doc.get("decomposition"),
            h_weight_fraction=w_h,
            storage_score=score,
            potential=doc["potential"],
            converged=bool(doc.get("converged")),
            matched_id=novelty.matched_id,
            matched_ids=list(novelty.matched_ids),
            reference_id=novelty.reference_id,
            same_formula=novelty.same_formula,
            same_ratio=novelty.same_ratio,
            known_ids_same_formula=list(novelty.same_formula_ids),
            known_ids_same_ratio=list(novelty.same_ratio_ids),
            is_novel=novelty.is_novel,
            is_stable=stable,
            is_metastable=metastable,
            relaxed_last_updated=doc["last_updated"],
            known_signature=signature,
            settings_hash=self.settings_hash,
            build=build,
            last_updated=now,
        )
        return verdict, entry

    def _unjudged(
        self,
        doc: dict[str, Any],
        exc: Exception,
        item: dict[str, Any],
        build: BuildMeta,
        now: datetime,
    ) -> CandidateDoc:
        """Return the invalid verdict on a relaxed document that could not be read."""
        return CandidateDoc(
            candidate_id=doc["relaxed_id"],
            relaxed_id=doc["relaxed_id"],
            generated_id=str(doc.get("generated_id")),
            run_id=doc.get("run_id"),
            status="invalid",
            reasons=[f"could not judge the relaxed document: {exc}"],
            formula=str(doc.get("formula")),
            reduced_formula=item["reduced_formula"],
            elements=list(doc.get("elements") or []),
            nsites=int(doc.get("nsites") or 0),
            h_weight_fraction=float(doc.get("h_weight_fraction") or 0.0),
            potential=str(doc.get("potential")),
            converged=bool(doc.get("converged")),
            same_formula=False,
            same_ratio=False,
            is_novel=False,
            relaxed_last_updated=doc["last_updated"],
            known_signature=item["known_signature"],
            settings_hash=self.settings_hash,
            build=build,
            last_updated=now,
        )

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """Judge the new relaxed documents of one reduced formula (no database).

        Returns
        -------
        dict
            ``docs`` (verdicts to upsert, whole documents), ``removed`` (ids to
            delete), ``processed`` (relaxed documents judged) and ``stats``.
        """
        p = self._params
        matcher = make_matcher(p.ltol, p.stol, p.angle_tol)
        now = utcnow()
        build = self._build_meta()
        known = known_materials(
            [
                (k["material_id"], Structure.from_dict(k["structure"]))
                for k in item["known"]
            ]
        ) + known_compositions(
            (mid, item["reduced_formula"]) for mid in item.get("known_compositions", [])
        )
        verdicts: list[CandidateDoc] = []
        entries: list[MatchEntry] = []
        members: list[int] = []  # index into verdicts of each entry
        labels: list[str | None] = []
        for doc in item["fresh"]:
            try:
                verdict, entry = self._judge(
                    doc, known, matcher, item["known_signature"], build, now
                )
            except Exception as exc:  # one odd document must not stop the build
                logger.warning("could not judge %s: %s", doc["relaxed_id"], exc)
                verdict = self._unjudged(doc, exc, item, build, now)
                entry = None
            verdicts.append(verdict)
            if entry is not None:
                entries.append(entry)
                members.append(len(verdicts) - 1)
                labels.append(None)
        settled_before: dict[str, dict[str, Any]] = {}
        for raw in item["settled"]:
            verdict = CandidateDoc.model_validate(raw)
            settled_before[verdict.candidate_id] = raw
            verdicts.append(verdict)
            entries.append(
                MatchEntry(
                    verdict.candidate_id,
                    verdict.structure,
                    reduced_nsites=verdict.reduced_nsites,
                    spacegroup=verdict.spacegroup_number,
                )
            )
            members.append(len(verdicts) - 1)
            labels.append(verdict.duplicate_of or verdict.candidate_id)

        groups, stats = duplicate_groups(entries, matcher, labels, self.symprec)
        for group in groups:
            docs = [verdicts[members[i]] for i in group]
            # the earliest relaxation represents its group: a later run never
            # displaces it, and no choice by energy biases the ranking
            best = min(docs, key=lambda d: (d.relaxed_last_updated, d.candidate_id))
            for d in docs:
                d.status = "candidate" if d is best else "duplicate"
                d.duplicate_of = None if d is best else best.candidate_id

        for raw in item.get("restamp", []):
            verdict = CandidateDoc.model_validate(raw)
            settled_before[verdict.candidate_id] = raw
            verdicts.append(verdict)

        out: list[dict[str, Any]] = []
        dft = item.get("dft", {})
        for verdict in verdicts:
            with_dft(verdict, dft.get(verdict.relaxed_id))
            before = settled_before.get(verdict.candidate_id)
            if before is not None and (
                before.get("status"),
                before.get("duplicate_of"),
                before.get("dft_task_id"),
                before.get("formation_energy_dft_per_atom"),
            ) == (
                verdict.status,
                verdict.duplicate_of,
                verdict.dft_task_id,
                verdict.formation_energy_dft_per_atom,
            ):
                continue  # a settled verdict that did not change
            if before is not None:
                verdict.last_updated, verdict.build = now, build
            out.append(verdict.with_hash().model_dump())
        return {
            "reduced_formula": item["reduced_formula"],
            "docs": out,
            "removed": list(item["removed"]),
            "processed": len(item["fresh"]),
            "stats": asdict(stats),
        }

    # -- writing -----------------------------------------------------------------
    def update_targets(self, items: list[dict[str, Any]]) -> None:
        """Upsert the verdicts (unchanged ones are left alone) and drop orphans."""
        docs = [doc for item in items for doc in item["docs"]]
        removed = [cid for item in items for cid in item["removed"]]
        summary = self.summary
        if docs:
            result = upsert_documents(self.candidates, docs, "candidate_id")
            summary.count_upsert(result)
        if removed:
            self.candidates.remove_docs({"candidate_id": {"$in": removed}})
            summary.removed += len(removed)
        for item in items:
            summary.groups += 1
            summary.processed += item["processed"]
            stats = DedupStats(**item["stats"])
            summary.pairs_in_buckets += stats.pairs_in_buckets
            summary.pairs_compared += stats.pairs_compared
            summary.pairs_matched += stats.pairs_matched
        summary.stop_clock()

    def finalize(self) -> None:
        """Leave the stores open: they belong to the store factory."""
        self.summary.stop_clock()


def with_dft(verdict: CandidateDoc, dft: dict[str, Any] | None) -> None:
    """Fill a verdict's DFT formation energy and squared error (or clear them).

    Parameters
    ----------
    verdict
        The verdict, changed in place.
    dft
        Its latest DFT validation (``task_id``, ``e_form``), or None.
    """
    if dft is None:
        verdict.dft_task_id = None
        verdict.formation_energy_dft_per_atom = None
        verdict.e_above_hull_dft = None
        verdict.squared_error = None
        return
    verdict.dft_task_id = dft["task_id"]
    verdict.formation_energy_dft_per_atom = dft["e_form"]
    verdict.e_above_hull_dft = dft.get("e_hull")
    predicted = verdict.formation_energy_per_atom
    verdict.squared_error = (
        None if predicted is None else (predicted - dft["e_form"]) ** 2
    )


def run_builder(builder: Builder) -> None:
    """Run a builder serially, without maggma's logging set-up (``Builder.run``)."""
    chunk: list[Any] = []
    for item in builder.get_items():
        chunk.append(builder.process_item(item))
        if len(chunk) >= builder.chunk_size:
            builder.update_targets(chunk)
            chunk = []
    builder.update_targets(chunk)
    builder.finalize()


def build_candidates(factory: StoreFactory) -> CandidateBuildSummary:
    """Build the candidates collection from the factory's stores and settings."""
    builder = CandidateBuilder.from_factory(factory)
    run_builder(builder)
    return builder.summary
