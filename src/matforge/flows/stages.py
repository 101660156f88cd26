"""One jobflow Maker per stage of the discovery flow, and the glue they run.

Each Maker is a thin dataclass (``name``, the campaign's ``run_id`` and a
settings patch) whose job loads the matforge settings where it runs (worker
environment or YAML file: the store is never part of the job), opens the store
factory, and runs its stage once per content hash (:func:`run_stage`). A job
receives the small output of the stage before it (a reference in the flow)
and returns its own: ids and counts, never big objects; the documents
themselves go to the named collections and large bytes to the data store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobflow import Maker, job

from matforge.flows.runs import run_stage

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory

Work = Callable[
    ["StoreFactory", "MatforgeSettings", str, dict[str, Any] | None], dict[str, Any]
]


def file_digest(path: Path) -> str:
    """Return the SHA-1 of a file's bytes."""
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stage_settings(overrides: dict[str, Any]) -> MatforgeSettings:
    """Load the settings where the job runs, with the flow's patch on top.

    Parameters
    ----------
    overrides
        Settings sections (never the store) patched over the loaded ones.
    """
    from matforge.settings import load_settings

    return load_settings(**overrides)


def execute_stage(
    maker: StageMaker,
    stage: str,
    key: Callable[[MatforgeSettings], Any],
    work: Work,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Run one stage of a campaign in a job (see :func:`run_stage`).

    Parameters
    ----------
    maker
        The stage's Maker (``run_id`` and ``overrides``).
    stage
        The stage name.
    key
        Returns the JSON-able settings that shape the stage's result.
    work
        Runs the stage: ``work(factory, settings, run_id, upstream_output)``.
    upstream
        The output of the stage before it.
    """
    from matforge.stores import StoreFactory

    settings = stage_settings(maker.overrides)
    upstream_output = upstream["output"] if upstream else None
    with StoreFactory(settings) as factory:
        return run_stage(
            factory,
            maker.run_id,
            stage,
            key(settings),
            upstream,
            lambda: work(factory, settings, maker.run_id, upstream_output),
        )


@dataclass
class StageMaker(Maker):
    """Fields every stage Maker has.

    Parameters
    ----------
    name
        Name of the job.
    run_id
        The campaign, recorded on every document.
    overrides
        Settings sections patched over those loaded where the job runs (e.g.
        ``{"ml": {"epochs": 5}}``); never the store, which is the worker's.
    """

    name: str = "stage"
    run_id: str = "default"
    overrides: dict[str, Any] = field(default_factory=dict)


# -- ingest ------------------------------------------------------------------
def _ingest_key(settings: MatforgeSettings) -> dict[str, Any]:
    from matforge.data.offline import offline_files

    files = offline_files(settings.shared_data_dir())
    return {
        "files": {p.name: file_digest(p) for p in files},
        "ingest": settings.ingest.model_dump(exclude={"workers"}),
        "score": settings.score.model_dump(),
    }


def ingest_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Ingest the offline hydride snapshot into ``hydrides`` (idempotent)."""
    from matforge.data.ingest import ingest_records
    from matforge.data.offline import offline_files, offline_records

    shared = settings.shared_data_dir()
    inputs = [str(p) for p in offline_files(shared)]
    summary = ingest_records(offline_records(shared), factory, "offline", inputs)
    return {
        "read": summary.read,
        "accepted": summary.accepted,
        "rejected": len(summary.rejected),
        "hydrides": factory.store("hydrides").count(),
    }


@dataclass
class IngestMaker(StageMaker):
    """Ingest the offline snapshot: hydrides with their features and score."""

    name: str = "ingest"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(self, "ingest", _ingest_key, ingest_stage, upstream)


# -- features and score --------------------------------------------------------
def features_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Summarise the hydrides' features and storage scores (the dataset)."""
    import numpy as np

    from matforge.stores.queries import scan_documents

    docs = list(
        scan_documents(
            factory.store("hydrides"), ["material_id", "storage_score", "features"]
        )
    )
    scores = np.array(
        [d["storage_score"] for d in docs if d.get("storage_score") is not None]
    )
    with_features = sum(1 for d in docs if d.get("features"))
    out: dict[str, Any] = {
        "hydrides": len(docs),
        "with_features": with_features,
        "with_score": len(scores),
    }
    if len(scores):
        out |= {
            "score_mean": float(scores.mean()),
            "score_max": float(scores.max()),
            "score_median": float(np.median(scores)),
        }
    return out


@dataclass
class FeaturesScoreMaker(StageMaker):
    """Check the features and storage score of every hydride and summarise them."""

    name: str = "features and score"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "features",
            lambda s: {"score": s.score.model_dump()},
            features_stage,
            upstream,
        )


# -- causal discovery --------------------------------------------------------
def causal_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Run FCI over the hydride features; the graph goes to ``causal_graphs``."""
    from matforge.flows.causal import run_causal_stage

    doc, _ = run_causal_stage(factory, settings.causal)
    return {
        "graph_id": doc.graph_id,
        "selected_features": list(doc.selected_features),
    }


@dataclass
class CausalStageMaker(StageMaker):
    """Causal discovery around the storage score, as a stage of a campaign."""

    name: str = "causal discovery"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "causal",
            lambda s: s.causal.model_dump(),
            causal_stage,
            upstream,
        )


# -- train the generator -------------------------------------------------------
def train_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Train the generator; checkpoint and history go to the data store."""
    from matforge.flows.generator import train_generator

    pretrain_dir = (
        settings.shared_data_dir() / "mp20_sample"
        if settings.ml.pretrain_epochs > 0
        else None
    )
    doc = train_generator(
        factory, settings.ml, run_id=run_id, pretrain_dir=pretrain_dir
    )
    return {
        "model_id": doc.model_id,
        "epochs_run": doc.training["epochs_run"],
        "best_val_loss": doc.training["best_val_loss"],
        "split_sizes": doc.split_sizes,
    }


@dataclass
class TrainGeneratorMaker(StageMaker):
    """Train the crystal diffusion VAE on the hydrides."""

    name: str = "train generator"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self, "train", lambda s: s.ml.model_dump(), train_stage, upstream
        )


# -- generate ------------------------------------------------------------------
def _generate_key(settings: MatforgeSettings) -> dict[str, Any]:
    return {
        "ml": settings.ml.model_dump(),
        "num_samples": settings.run.num_samples,
        "seed": settings.run.seed,
        "metrics": settings.run.metrics,
    }


def generate_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Sample the campaign's crystals (CIFs in ``generated``), and their metrics."""
    from matforge.flows.generator import evaluate_generator, generate_candidates

    if not upstream or "model_id" not in upstream:
        raise ValueError("the generate stage needs the train stage's model_id")
    docs = generate_candidates(
        factory,
        settings.ml,
        settings.run.num_samples,
        model_id=upstream["model_id"],
        seed=settings.run.seed,
        run_id=run_id,
    )
    out: dict[str, Any] = {
        "model_id": upstream["model_id"],
        "generated": len(docs),
        "generated_ids": [d.generated_id for d in docs],
    }
    if settings.run.metrics:
        table = evaluate_generator(factory, docs, settings.ml)
        out["metrics"] = {
            k: v for k, v in table.items() if isinstance(v, int | float | bool)
        }
    return out


@dataclass
class GenerateMaker(StageMaker):
    """Sample candidate crystals from the campaign's generator."""

    name: str = "generate"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(self, "generate", _generate_key, generate_stage, upstream)


# -- candidates ----------------------------------------------------------------
def run_candidates(
    factory: StoreFactory, run_id: str, top: int | None = None
) -> list[dict[str, Any]]:
    """Return a campaign's ranked candidates, best storage score first.

    ``rank`` counts within the campaign.
    """
    from matforge.stores.queries import ranked_candidates

    rows = [
        r
        for r in ranked_candidates(factory.store("candidates"))
        if r.get("run_id") == run_id
    ]
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows if top is None else rows[:top]


def candidates_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Judge the relaxed crystals into ``candidates`` (the builder is incremental)."""
    from collections import Counter

    from matforge.builders.candidates import build_candidates
    from matforge.data.references import ensure_references
    from matforge.stores.queries import scan_documents

    ensure_references(factory)
    build_candidates(factory)
    counts = Counter(
        d.get("status")
        for d in scan_documents(factory.store("candidates"), ["status", "run_id"])
        if d.get("run_id") == run_id
    )
    ranked = run_candidates(factory, run_id)
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

    @job
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


# -- report --------------------------------------------------------------------
def report_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write the campaign's report (files under home, bytes in the data store)."""
    from matforge.report import write_report

    out_dir = settings.home_dir / "reports" / run_id
    result = write_report(factory, run_id, out_dir, top=settings.run.report_top)
    return {
        "folder": str(out_dir),
        "files": [p.name for p in result.files],
        "blobs": result.blobs,
    }


@dataclass
class ReportMaker(StageMaker):
    """Write the Markdown / HTML report with its plots."""

    name: str = "report"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "report",
            lambda s: {"top": s.run.report_top},
            report_stage,
            upstream,
        )
