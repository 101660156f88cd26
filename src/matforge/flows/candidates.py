"""The candidates stage: relaxed crystals judged into ranked ``candidates``.

The judging (validity, duplicates, novelty, ranking) is the candidates
builder (:mod:`matforge.builders.candidates`, incremental); here the known
materials it compares against are loaded first, and the result is counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matforge.builders.candidates import build_candidates
from matforge.builders.optimade import build_optimade
from matforge.data.references import ensure_references, load_mp_references
from matforge.flows.stage import (
    MatforgeMaker,
    StageMaker,
    execute_stage,
    job_factory,
    stage_job,
)
from matforge.stores.queries import ranked_candidates, scan_documents

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
        "top_ids": [r["candidate_id"] for r in ranked[: settings.dft.top_k]],
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
