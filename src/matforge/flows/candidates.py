"""The candidates stage: relaxed crystals judged into ranked ``candidates``.

The judging (validity, duplicates, novelty, ranking) is the candidates
builder (:mod:`matforge.builders.candidates`, incremental); here the known
materials it compares against are loaded first, and the result is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymatgen.core import Composition, Structure

from matforge.builders.candidates import build_candidates
from matforge.builders.optimade import build_optimade
from matforge.core.chemistry import is_metal_hydride
from matforge.core.dedup import duplicate_groups
from matforge.core.hull import chemsys_of
from matforge.core.novelty import MatchEntry, make_matcher
from matforge.core.score import storage_score
from matforge.core.sun import (
    STABILITY_THRESHOLDS,
    SunRecord,
    matched_rmsd,
    rmsd_matcher,
    stored_counts,
    sun_rate,
)
from matforge.data.references import (
    ensure_references,
    load_mp_references,
    novelty_of_structures,
)
from matforge.errors import MatforgeError
from matforge.flows.relax import (
    campaign_hull,
    hull_products,
    potential_of,
    price_missing_phases,
)
from matforge.flows.stage import (
    MatforgeMaker,
    StageMaker,
    execute_stage,
    job_factory,
    stage_job,
)
from matforge.schemas.common import utcnow
from matforge.stores.artefacts import put_json
from matforge.stores.queries import ranked_candidates, scan_documents
from matforge.stores.runs import known_hydrides_key, stage_record, write_record

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory


def rebuild_candidates(factory: StoreFactory) -> Any:
    """Build the candidates, then the OPTIMADE collection served from them.

    Both builders are incremental: only what changed is written. Returns the
    candidates builder's summary.
    """
    summary = build_candidates(factory)
    build_optimade(factory)
    return summary


def status_counts(factory: StoreFactory, run_id: str | None = None) -> Counter:
    """Count the candidates documents by status (of one campaign, or all)."""
    return Counter(
        d.get("status")
        for d in scan_documents(factory.store("candidates"), ["status", "run_id"])
        if run_id is None or d.get("run_id") == run_id
    )


def judge_candidates(factory: StoreFactory, from_mp: bool = False) -> dict[str, Any]:
    """Load the known materials and build the candidates (``build candidates``).

    Parameters
    ----------
    factory
        The store factory.
    from_mp
        Also add the Materials Project materials of the relaxed crystals'
        chemical systems to the references (online; needs an API key).

    Returns
    -------
    dict
        ``references_loaded``, the builder's summary and the counts by status.
    """
    loaded = ensure_references(factory)
    if from_mp:
        systems = {
            d["chemsys"]
            for d in scan_documents(factory.store("relaxed"), ["chemsys"])
            if d.get("chemsys")
        }
        result = load_mp_references(factory, systems)
        loaded += len(result.inserted) + len(result.updated)
    summary = rebuild_candidates(factory)
    counts = status_counts(factory)
    return {
        "references_loaded": loaded,
        **summary.as_dict(),
        "candidates": counts.get("candidate", 0),
        "duplicates": counts.get("duplicate", 0),
        "invalid": counts.get("invalid", 0),
    }


def candidates_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Judge the relaxed crystals into ``candidates`` (the builder is incremental)."""
    ensure_references(factory)
    rebuild_candidates(factory)
    counts = status_counts(factory, run_id)
    ranked = ranked_candidates(factory.store("candidates"), run_id=run_id)
    return {
        "candidates": counts.get("candidate", 0),
        "duplicates": counts.get("duplicate", 0),
        "invalid": counts.get("invalid", 0),
        "novel": sum(1 for r in ranked if r.get("is_novel")),
        "stable": sum(1 for r in ranked if r.get("is_stable")),
        "top_ids": [r["candidate_id"] for r in ranked[: settings.dft.top_k]],
        "sun": campaign_sun(factory, run_id),
        "known_hydrides": store_known_hydrides(factory, run_id, ranked),
    }


def rejudge_campaign(
    factory: StoreFactory,
    run_id: str,
    price: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Judge a campaign's relaxed crystals again against the hull of today's phases.

    First (with ``price``) the known materials of the crystals' systems that
    no phase prices are priced with the campaign's potential
    (:func:`~matforge.flows.relax.price_missing_phases`); then every relaxed
    crystal with a formation energy gets its energy above the hull and its
    decomposition again, the candidates are rebuilt, and the campaign's
    candidates stage output (counts, S.U.N. figures) is computed again and
    stored on its record. What a campaign relaxed before the phases were
    complete needs this; a new campaign prices its systems in its relax stage.
    ``progress`` is called with 1 for every known material priced.

    Returns
    -------
    dict
        ``priced``, ``failed`` (pricing), ``judged``, ``changed`` (moved by more
        than 1 meV/atom), ``sun_before`` and ``sun_after`` (the S.U.N. rates at
        0.1 eV/atom, None when unknown).
    """
    store = factory.store("relaxed")
    docs = [
        d
        for d in scan_documents(
            store,
            [
                "relaxed_id",
                "formula",
                "formation_energy_per_atom",
                "e_above_hull",
                "potential",
            ],
            "run_id",
            [run_id],
        )
        if isinstance(d.get("formation_energy_per_atom"), int | float)
    ]
    if not docs:
        raise MatforgeError(f"campaign {run_id} has no relaxed crystals to judge")
    compositions = [Composition(d["formula"]) for d in docs]
    pricing: dict[str, Any] = {"priced": [], "failed": {}}
    if price:
        spec = potential_of(factory.settings, docs[0]["potential"])
        pricing = price_missing_phases(factory, compositions, spec, progress=progress)
    hull = campaign_hull(factory, compositions)
    changed = 0
    for doc, composition in zip(docs, compositions, strict=True):
        result = hull.assess(
            composition, float(doc["formation_energy_per_atom"]), entry_id=None
        )
        old = doc.get("e_above_hull")
        if old is None or abs(old - result.e_above_hull) > 1e-3:
            changed += 1
        decomposition = hull_products(result) or []
        store._collection.update_one(
            {"relaxed_id": doc["relaxed_id"]},
            {
                "$set": {
                    "e_above_hull": result.e_above_hull,
                    "decomposition": [d.model_dump() for d in decomposition],
                    "hull_phases": result.n_phases,
                    "last_updated": utcnow(),
                }
            },
        )
    record = stage_record(factory, run_id, "candidates")
    before = ((record or {}).get("output") or {}).get("sun") or {}
    output = candidates_stage(factory, factory.settings, run_id, None)
    if record is not None:
        record["output"] = output
        record["updated_at"] = utcnow().isoformat()
        write_record(factory, record)

    def rate(sun: dict[str, Any]) -> float | None:
        return stored_counts(sun).get(STABILITY_THRESHOLDS[0], {}).get("sun_rate")

    return {
        "priced": pricing["priced"],
        "failed": pricing["failed"],
        "judged": len(docs),
        "changed": changed,
        "sun_before": rate(before),
        "sun_after": rate(output["sun"]),
        "sun": output["sun"],
    }


@dataclass
class CandidatesMaker(StageMaker):
    """Build the ranked, deduplicated candidates."""

    name: str = "build candidates"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "candidates",
            lambda s: {
                "candidates": s.candidates.model_dump(),
                "top_k": s.dft.top_k,
            },
            candidates_stage,
            upstream,
        )


@dataclass
class RejudgeCandidatesMaker(MatforgeMaker):
    """Rebuild the candidates (and their OPTIMADE entries) after DFT validation.

    Not a recorded stage: the builder is incremental, so running it again
    re-stamps only the candidates whose DFT task changed.
    """

    name: str = "rejudge candidates"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Rebuild the candidates; pass the DFT stage's output on unchanged."""
        with job_factory(self.settings, "rejudge candidates") as factory:
            rebuild_candidates(factory)
        return upstream


def campaign_sun(factory: StoreFactory, run_id: str) -> dict[str, Any]:
    """Return the S.U.N. rate of a campaign's generated crystals (MatterGen's).

    Stable: ``e_above_hull`` after relaxation at or below 0.1 (and 0.0) eV/atom
    against the Materials Project's competing phases; unique: one crystal per
    group of matching structures among the campaign's relaxed crystals (valid
    or not: validity filters such as charge neutrality are not part of the
    S.U.N. protocol); novel: no known crystal (stored hydrides, references)
    matches it. The rate divides by every crystal generated, failed
    relaxations included. Also the mean RMSD between generated and relaxed
    crystals (MatterGen's second figure).

    Parameters
    ----------
    factory
        The store factory.
    run_id
        The campaign.

    Returns
    -------
    dict
        :meth:`~matforge.core.sun.SunSummary.as_dict`, with the S.U.N. ids at
        0.1 eV/atom.
    """
    params = factory.settings.candidates
    matcher = make_matcher(params.ltol, params.stol, params.angle_tol)
    generated = factory.store("generated")
    total = sum(
        1 for _ in scan_documents(generated, ["generated_id"], "run_id", [run_id])
    )
    docs = list(
        scan_documents(
            factory.store("relaxed"),
            ["relaxed_id", "structure", "initial_structure", "e_above_hull", "failed"],
            "run_id",
            [run_id],
        )
    )
    relaxed = [d for d in docs if not d.get("failed") and d.get("structure")]
    structures = {d["relaxed_id"]: Structure.from_dict(d["structure"]) for d in relaxed}
    entries = [MatchEntry(rid, s) for rid, s in sorted(structures.items())]
    groups, _ = duplicate_groups(entries, matcher)
    unique = {entries[group[0]].id for group in groups}
    novelty = novelty_of_structures(factory, structures)
    rmsd = rmsd_matcher()
    records = [
        SunRecord(
            id=d["relaxed_id"],
            e_above_hull=d.get("e_above_hull"),
            unique=d["relaxed_id"] in unique,
            novel=novelty[d["relaxed_id"]].is_novel,
            same_ratio=novelty[d["relaxed_id"]].same_ratio,
            in_scope=is_metal_hydride(structures[d["relaxed_id"]].composition),
            rmsd=matched_rmsd(
                Structure.from_dict(d["initial_structure"]),
                structures[d["relaxed_id"]],
                rmsd,
            )
            if d.get("initial_structure")
            else None,
        )
        for d in relaxed
    ]
    summary = sun_rate(records, total=max(total, len(records)))
    return summary.as_dict() | {"sun_ids": list(summary.sun_ids.get(0.1, ()))}


def known_hydrides_of(
    factory: StoreFactory, compositions: list[Composition]
) -> list[dict[str, Any]]:
    """Return the known hydrides of some compositions' chemical systems, on the hull.

    The Materials Project phases (and stored hydrides) holding H and a metal,
    with their energy above the hull (0 for the phases on it) and their storage
    score: what the report plots beside a campaign's candidates.
    """
    hull = campaign_hull(factory, compositions)
    systems = {chemsys_of(c) for c in compositions}
    score = factory.settings.score
    rows = []
    for phase in hull.index:
        comp = phase.composition
        if not is_metal_hydride(comp) or not any(
            set(phase.chemsys.split("-")) <= set(s.split("-")) for s in systems
        ):
            continue
        # the distance to the hull they are part of: 0 on it, positive above
        result = hull.assess(comp, phase.e_form)
        rows.append(
            {
                "id": phase.id,
                "formula": phase.formula,
                "source": phase.source,
                "formation_energy_per_atom": phase.e_form,
                "e_above_hull": result.e_above_hull,
                "storage_score": storage_score(
                    comp, phase.e_form, score.e_threshold, score.sigma
                ).storage_score,
            }
        )
    return sorted(rows, key=lambda r: r["id"])


def store_known_hydrides(
    factory: StoreFactory, run_id: str, ranked: list[dict[str, Any]]
) -> str | None:
    """Store the known hydrides of a campaign's systems (data store); return the key."""
    compositions = [Composition(r["formula"]) for r in ranked if r.get("formula")]
    if not compositions:
        return None
    return put_json(
        factory.data_store(),
        known_hydrides_key(run_id),
        known_hydrides_of(factory, compositions),
        run_id=run_id,
        content_type="application/json",
    )
