"""The dataset expansion: grow ``hydrides`` by substitution, relaxation, energy.

The run, resumable and idempotent:

1. the store is filled with the offline snapshot first when it is empty;
2. proposals are made from the *real* hydrides (never from computed ones), so
   the same store gives the same proposals, in the same order, with the same
   deterministic ids (``mf-sub-...``);
3. proposals already handled are skipped: accepted ones are hydrides with that
   ``material_id``, failed or duplicate ones are rejects (stage ``expand``)
   naming the proposal id;
4. the rest is deduplicated (``StructureMatcher`` within reduced-formula
   groups) against every stored hydride and each other, and checked;
5. batches of proposals are relaxed with the potential; each result is written
   as soon as it is known: a computed hydride with its provenance (parent,
   substitution, potential, steps, converged, MP2020-compatible formation
   energy and e_above_hull), or a reject with the reason (failed relaxation,
   not converged, collapsed, duplicate of a stored hydride after relaxation).

A killed run loses only the structures in flight; running again continues
and stops as soon as the collection holds ``target`` hydrides.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from matforge.core.checks import hydride_problems
from matforge.core.hull import Phase
from matforge.data.offline import REFERENCES_FILE
from matforge.data.sources import ingest_offline
from matforge.data.substitution import (
    PROPOSAL_PREFIX,
    Proposal,
    dedupe,
    find_match,
    group_by_formula,
    pool_elements,
    propose_substitutions,
)
from matforge.flows.relax import campaign_hull, potential_of, reference_energies
from matforge.flows.stage import MatforgeMaker, job_factory, stage_job
from matforge.potentials.energies import energies_of
from matforge.potentials.relax import run_potential
from matforge.schemas import BuildMeta, HydrideDoc, RejectDoc
from matforge.schemas.common import package_versions
from matforge.schemas.potential import ComputedProvenance
from matforge.stores.lock import store_writer
from matforge.stores.queries import scan_documents
from matforge.stores.writes import stored_values, upsert_documents

RELAXATION_PACKAGES = ("torch", "torch-sim-atomistic", "sevenn", "ase")
"""Packages whose versions an expanded hydride records beside the usual ones."""

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.potentials.registry import PotentialSpec
    from matforge.potentials.relax import RelaxResult
    from matforge.stores.factory import StoreFactory

STAGE = "expand"
SOURCE = "computed"


@dataclass
class ExpandSummary:
    """What an expansion run did."""

    target: int
    potential: str
    start_count: int = 0
    final_count: int = 0
    seeded: int = 0
    proposals: int = 0
    already_done: int = 0
    duplicates_before: int = 0
    unusable: int = 0
    relaxed: int = 0
    accepted: int = 0
    failed: int = 0
    duplicates_after: int = 0
    runtime_s: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped_elements: list[str] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        """True when the collection holds the target number of hydrides."""
        return self.final_count >= self.target

    def as_dict(self) -> dict[str, Any]:
        """Return what ``matforge dataset expand --json`` prints."""
        return {
            "target": self.target,
            "reached": self.reached,
            "potential": self.potential,
            "start_count": self.start_count,
            "final_count": self.final_count,
            "seeded_from_offline_snapshot": self.seeded,
            "proposals": self.proposals,
            "already_done": self.already_done,
            "duplicates_before_relaxation": self.duplicates_before,
            "unusable_proposals": self.unusable,
            "relaxed": self.relaxed,
            "accepted": self.accepted,
            "failed": self.failed,
            "duplicates_after_relaxation": self.duplicates_after,
            "failure_reasons": self.reasons,
            "pool_elements_without_reference": self.skipped_elements,
            "runtime_s": round(self.runtime_s, 1),
        }


def _reason_kind(reason: str) -> str:
    return reason.split("(", 1)[0].split(":", 1)[0].strip()[:60]


def handled_proposals(hydrides: Store, rejects: Store) -> set[str]:
    """Return the ids of proposals already accepted or rejected."""
    done = {
        d["material_id"]
        for d in scan_documents(hydrides, ["material_id"], "source", [SOURCE])
    }
    done |= {d["input"] for d in scan_documents(rejects, ["input"], "stage", [STAGE])}
    return {i for i in done if str(i).startswith(PROPOSAL_PREFIX)}


def reference_elements(shared_dir: Path) -> list[str]:
    """Return the elements that have an MP reference structure."""
    with gzip.open(shared_dir / REFERENCES_FILE, "rt", encoding="utf-8") as handle:
        return sorted(json.load(handle))


def _stored_structures(hydrides: Store) -> list[tuple[str, Structure, str]]:
    return [
        (d["material_id"], Structure.from_dict(d["structure"]), d.get("source", ""))
        for d in scan_documents(hydrides, ["material_id", "structure", "source"])
    ]


def _seed_if_empty(factory: StoreFactory, summary: ExpandSummary) -> None:
    """Ingest the offline snapshot into an empty hydrides collection."""
    if summary.start_count:
        return
    summary.seeded = ingest_offline(factory).accepted


def pending_proposals(
    factory: StoreFactory,
    stored: list[tuple[str, Structure, str]],
    summary: ExpandSummary,
) -> list[Proposal]:
    """Return the proposals still to relax, new, unique and acceptable, in order."""
    settings = factory.settings
    expand = settings.expand
    parents = sorted((i, s) for i, s, source in stored if source != SOURCE)
    with_reference = set(reference_elements(settings.shared_data_dir()))
    elements = pool_elements(expand.pools)
    summary.skipped_elements = [e for e in elements if e not in with_reference]
    proposals = propose_substitutions(
        parents,
        [e for e in elements if e in with_reference],
        min_probability=expand.min_probability,
        per_parent=expand.per_parent,
    )
    summary.proposals = len(proposals)
    done = handled_proposals(factory.store("hydrides"), factory.store("rejects"))
    pending = [p for p in proposals if p.proposal_id not in done]
    summary.already_done = len(proposals) - len(pending)
    pending, duplicates = dedupe(pending, [(i, s) for i, s, _ in stored])
    summary.duplicates_before = len(duplicates)
    usable = []
    for proposal in pending:
        if hydride_problems(
            proposal.structure, settings.ingest.max_sites, settings.ingest.min_distance
        ):
            summary.unusable += 1
        else:
            usable.append(proposal)
    return usable


class _Recorder:
    """Writes each relaxation outcome at once: a computed hydride or a reject."""

    def __init__(
        self,
        factory: StoreFactory,
        spec: PotentialSpec,
        stored: list[tuple[str, Structure, str]],
        summary: ExpandSummary,
        usable: list[Proposal],
    ) -> None:
        self.settings = factory.settings
        self.spec = spec
        self.summary = summary
        self.hydrides = factory.store("hydrides")
        self.rejects = factory.store("rejects")
        self.groups = group_by_formula((i, s) for i, s, _ in stored)
        self.hull = campaign_hull(factory, (p.structure.composition for p in usable))
        self.known_ids = stored_values(
            self.hydrides, "material_id", None, "content_hash"
        )
        self.build = BuildMeta(
            # the relaxation's numbers also depend on torch and torch-sim
            versions=package_versions(RELAXATION_PACKAGES),
            inputs=["collection:hydrides (real entries)", "mp_elemental_references"],
            settings={
                "potential": self.settings.potential.model_dump(mode="json"),
                "expand": self.settings.expand.model_dump(mode="json"),
                "potential_version": spec.version,
            },
        )

    def reject(self, proposal: Proposal, reason: str, duplicate: bool = False) -> None:
        """Store a failed or duplicate proposal in rejects (stage expand)."""
        if duplicate:
            self.summary.duplicates_after += 1
        else:
            self.summary.failed += 1
            kind = _reason_kind(reason)
            self.summary.reasons[kind] = self.summary.reasons.get(kind, 0) + 1
        doc = RejectDoc.from_input(
            proposal.proposal_id,
            f"{proposal.label}: {reason}",
            snippet=proposal.structure.composition.formula,
            source=SOURCE,
            stage=STAGE,
        )
        upsert_documents(
            self.rejects, [doc.model_dump()], "reject_id", hash_field="reason"
        )

    def record(
        self, proposal: Proposal, result: RelaxResult, refs: dict[str, float]
    ) -> None:
        """Store the outcome of one relaxation."""
        self.summary.relaxed += 1
        if result.error is not None or result.energy is None:
            self.reject(proposal, result.error or "no energy")
            return
        relaxed = result.structure
        formula = relaxed.composition.reduced_formula
        match = find_match(relaxed, self.groups.get(formula, []))
        if match is not None:
            self.reject(proposal, f"duplicate of {match} after relaxation", True)
            return
        ingest = self.settings.ingest
        problems = hydride_problems(relaxed, ingest.max_sites, ingest.min_distance)
        if problems:
            self.reject(proposal, "relaxed structure: " + "; ".join(problems))
            return
        spec = self.spec
        row = energies_of(
            [result], refs, self.hull, [(proposal.proposal_id, None)], spec.apply_mp2020
        )[0]
        e_form = row.formation_energy_per_atom
        if e_form is None:
            self.reject(proposal, row.error or "no formation energy")
            return
        provenance = ComputedProvenance(
            proposal_id=proposal.proposal_id,
            parent_id=proposal.parent_id,
            substitution=dict(proposal.substitution),
            probability=proposal.probability,
            potential=spec.name,
            potential_version=spec.version,
            relaxed=True,
            converged=result.converged,
            steps=result.steps,
            fmax=self.settings.potential.fmax,
            energy_per_atom=result.energy / len(relaxed),
            correction_per_atom=row.correction_per_atom,
            corrections=row.corrections,
        )
        try:
            doc = HydrideDoc.from_structure(
                relaxed,
                material_id=proposal.proposal_id,
                source=SOURCE,
                origin=f"substitution {proposal.label}, relaxed with {spec.name}",
                provenance=f"computed from {proposal.parent_id}",
                formation_energy_per_atom=e_form,
                energy_source=f"{spec.name} ({spec.version}), MP2020-compatible",
                e_above_hull=row.e_above_hull,
                symprec=ingest.symprec,
                e_threshold=self.settings.score.e_threshold,
                sigma=self.settings.score.sigma,
                build=self.build,
                computed=provenance,
            )
        except Exception as exc:  # symmetry analysis of an odd relaxed cell
            self.reject(proposal, f"could not analyse the relaxed structure: {exc}")
            return
        upsert_documents(
            self.hydrides, [doc.model_dump()], "material_id", stored=self.known_ids
        )
        self.groups.setdefault(formula, []).append((proposal.proposal_id, relaxed))
        self.hull.add(
            [Phase(proposal.proposal_id, relaxed.composition, e_form, "hydrides")]
        )
        self.summary.accepted += 1


def expand_dataset(
    factory: StoreFactory,
    spec: PotentialSpec,
    *,
    target: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExpandSummary:
    """Grow the hydrides collection to ``target`` entries by substitution.

    Parameters
    ----------
    factory
        The store factory; its settings hold the potential, expansion and
        ingest settings.
    spec
        The potential that relaxes the proposals.
    target
        Hydrides wanted (default ``settings.expand.target``).
    progress
        Called with 1 for every proposal relaxed.

    Returns
    -------
    ExpandSummary
        Counts, failures by reason, runtime.

    Raises
    ------
    StoreBusyError
        If another process is writing the same embedded store.
    """
    with store_writer(factory, "matforge dataset expand"):
        return _expand(factory, spec, target, progress)


def _expand(
    factory: StoreFactory,
    spec: PotentialSpec,
    target: int | None,
    progress: Callable[[int], None] | None,
) -> ExpandSummary:
    """Grow the collection (:func:`expand_dataset` under its lock)."""
    started = time.perf_counter()
    params = factory.settings.potential
    target = target or factory.settings.expand.target
    summary = ExpandSummary(target=target, potential=spec.name)
    hydrides = factory.store("hydrides")
    summary.start_count = hydrides.count()
    _seed_if_empty(factory, summary)
    summary.final_count = hydrides.count()
    if summary.final_count >= target:
        summary.runtime_s = time.perf_counter() - started
        return summary

    stored = _stored_structures(hydrides)
    usable = pending_proposals(factory, stored, summary)
    recorder = _Recorder(factory, spec, stored, summary, usable)
    # long batches: the in-flight batcher refills as structures converge, so only
    # the end of a batch runs with few structures in flight
    chunk = max(params.batch_size * 8, 4)
    position = 0
    while position < len(usable):
        # counted again each time: another run may be filling the same store
        need = target - hydrides.count()
        if need <= 0:
            break
        batch = usable[position : position + min(chunk, need)]
        position += len(batch)
        elements = {el.symbol for p in batch for el in p.structure.composition}
        refs = reference_energies(factory, spec, sorted(elements), params)

        def on_result(
            result: RelaxResult,
            batch: list[Proposal] = batch,
            refs: dict[str, float] = refs,
        ) -> None:
            recorder.record(batch[result.index], result, refs)
            if progress is not None:
                progress(1)

        run_potential(
            [p.structure for p in batch], spec, params, relax=True, on_result=on_result
        )
    summary.final_count = hydrides.count()
    summary.runtime_s = time.perf_counter() - started
    return summary


@dataclass
class ExpandMaker(MatforgeMaker):
    """Grow the hydrides collection by substitution (``matforge dataset expand``).

    Parameters
    ----------
    name
        Job name.
    settings
        Science settings of the job (``expand`` and ``potential`` among them).
    target
        Hydrides wanted (``expand.target`` when None).
    potential
        Potential name (``expand.potential`` when None).
    """

    name: str = "expand hydrides"
    target: int | None = None
    potential: str | None = None

    @stage_job
    def make(self) -> dict[str, Any]:
        """Run the expansion on the job's database; return its summary."""
        with job_factory(self.settings, "expand hydrides", write=False) as factory:
            spec = potential_of(
                factory.settings, self.potential or factory.settings.expand.potential
            )
            return expand_dataset(factory, spec, target=self.target).as_dict()
