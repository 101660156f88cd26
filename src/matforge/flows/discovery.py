"""The whole discovery flow: every stage's Maker composed into one jobflow Flow.

ingest -> features and score -> causal discovery -> train generator ->
generate -> relax -> build candidates -> DFT validation of the top K (when
``run.dft_validation``) -> report.

The same flow runs in-process (:func:`run_discovery`, ``matforge run``) or on
a cluster through FireWorks (``matforge submit``). Job ids are derived from
the campaign's id and the stage, so a re-run overwrites the JobStore's
documents instead of adding new ones; the stages themselves skip what they
already did (see :mod:`matforge.flows.runs`).
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Maker

from matforge.flows.dft import DFTValidationMaker
from matforge.flows.relax import RelaxGeneratedMaker
from matforge.flows.runs import run_records
from matforge.flows.stages import (
    CandidatesMaker,
    CausalStageMaker,
    FeaturesScoreMaker,
    GenerateMaker,
    IngestMaker,
    ReportMaker,
    StageMaker,
    TrainGeneratorMaker,
    run_candidates,
)
from matforge.schemas.common import content_hash

if TYPE_CHECKING:
    from collections.abc import Iterator

    from matforge.settings import MatforgeSettings

# Sections that shape a campaign's results (not where it is stored or run).
_SHAPING = ("ingest", "score", "causal", "ml", "candidates", "run")


def quick_overrides(settings: MatforgeSettings) -> dict[str, Any]:
    """Return the settings patch of a quick campaign: tiny generator, few samples.

    The tiny generator's composition head is still nearly flat, so its
    compositions are decoded whole under charge balance (``balanced``) rather
    than atom by atom: a first look then shows small, plausible hydrides.
    """
    return {
        "ml": {
            "epochs": settings.ml.quick_epochs,
            "pretrain_epochs": 0,
            "composition": "balanced",
        },
        "causal": {"bootstrap": settings.run.quick_bootstrap},
        "run": {"num_samples": settings.run.quick_samples},
    }


def campaign_run_id(settings: MatforgeSettings, overrides: dict[str, Any]) -> str:
    """Return the campaign's id: ``run.run_id`` or a hash of what shapes it.

    The same settings give the same id, so running again resumes.
    """
    if settings.run.run_id:
        return settings.run.run_id
    shaping = {
        name: getattr(settings, name).model_dump(mode="json") for name in _SHAPING
    }
    shaping["run"].pop("run_id", None)
    return "run-" + content_hash({"settings": shaping, "patch": overrides})[:12]


def job_uuid(run_id: str, stage: str) -> str:
    """Return the fixed job id of a campaign's stage."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"matforge:{run_id}/{stage}"))


@dataclass
class DiscoveryFlowMaker(Maker):
    """Compose the stage Makers into the discovery flow of one campaign.

    Parameters
    ----------
    name
        Name of the flow.
    run_id
        The campaign, recorded on every document.
    overrides
        Settings patched over those loaded where each job runs (never the store).
    dft_validation
        Add the DFT validation of the top candidates.
    stages
        The Makers, by stage; the defaults get ``run_id`` and ``overrides``.
    """

    name: str = "matforge discovery"
    run_id: str = "default"
    overrides: dict[str, Any] = field(default_factory=dict)
    dft_validation: bool = False
    stages: dict[str, StageMaker] = field(default_factory=dict)

    def _makers(self) -> list[tuple[str, StageMaker]]:
        common = {"run_id": self.run_id, "overrides": self.overrides}
        defaults: list[tuple[str, StageMaker]] = [
            ("ingest", IngestMaker(**common)),
            ("features", FeaturesScoreMaker(**common)),
            ("causal", CausalStageMaker(**common)),
            ("train", TrainGeneratorMaker(**common)),
            ("generate", GenerateMaker(**common)),
            ("relax", RelaxGeneratedMaker(**common)),
            ("candidates", CandidatesMaker(**common)),
        ]
        if self.dft_validation:
            defaults.append(("dft", DFTValidationMaker(**common)))
        defaults.append(("report", ReportMaker(**common)))
        return [(stage, self.stages.get(stage, maker)) for stage, maker in defaults]

    def make(self) -> Flow:
        """Return the flow; each job takes the output of the one before it.

        Returns
        -------
        jobflow.Flow
            The flow, whose output is the report stage's output.
        """
        jobs = []
        upstream = None
        for stage, maker in self._makers():
            new = maker.make(upstream)
            new.set_uuid(job_uuid(self.run_id, stage))
            jobs.append(new)
            upstream = new.output
        return Flow(jobs, output=jobs[-1].output, name=f"{self.name} {self.run_id}")


def discovery_flow(
    settings: MatforgeSettings, quick: bool = False
) -> tuple[str, Flow, dict[str, Any]]:
    """Return the campaign id, the flow and its settings patch.

    Parameters
    ----------
    settings
        The settings (``run`` shapes the flow).
    quick
        A small but complete campaign.
    """
    overrides = quick_overrides(settings) if quick else {}
    run_id = campaign_run_id(settings, overrides)
    maker = DiscoveryFlowMaker(
        run_id=run_id,
        overrides=overrides,
        dft_validation=settings.run.dft_validation,
    )
    return run_id, maker.make(), overrides


@contextmanager
def _config_file(path: str | Path | None) -> Iterator[None]:
    """Let the jobs (which load their own settings) read this YAML file."""
    if path is None:
        yield
        return
    old = os.environ.get("MATFORGE_CONFIG_FILE")
    os.environ["MATFORGE_CONFIG_FILE"] = str(Path(path).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MATFORGE_CONFIG_FILE", None)
        else:
            os.environ["MATFORGE_CONFIG_FILE"] = old


def run_discovery(
    settings: MatforgeSettings,
    quick: bool = False,
    config_file: str | Path | None = None,
) -> dict[str, Any]:
    """Run the discovery flow in this process and return its summary.

    Stages finished earlier for the same inputs and settings are skipped, so
    this resumes an interrupted campaign.

    Parameters
    ----------
    settings
        The settings; the store is where every job writes.
    quick
        A small but complete campaign.
    config_file
        The YAML file the settings came from, passed on to the jobs.

    Returns
    -------
    dict
        See :func:`run_summary`.
    """
    from jobflow.managers.local import run_locally

    from matforge.stores import StoreFactory

    run_id, flow, _ = discovery_flow(settings, quick)
    start = time.perf_counter()
    with (
        _config_file(config_file),
        StoreFactory(settings) as factory,
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="cd is deprecated")
        responses = run_locally(
            flow,
            store=factory.job_store(),
            log=False,
            ensure_success=True,
            raise_immediately=True,
        )
        summary = run_summary(factory, run_id)
    skipped = {
        r.output["stage"]: r.output["skipped"]
        for by_index in responses.values()
        for r in by_index.values()
        if isinstance(r.output, dict) and "stage" in r.output
    }
    for stage in summary["stages"]:
        stage["skipped"] = skipped.get(stage["stage"])
    summary["seconds"] = time.perf_counter() - start
    return summary


_COUNTS = {
    "ingest": "hydrides",
    "features": "with_score",
    "causal": "selected_features",
    "train": "epochs_run",
    "generate": "generated",
    "relax": "relaxed",
    "candidates": "candidates",
    "dft": "validated",
    "report": "files",
}


def run_summary(factory: Any, run_id: str, top: int = 10) -> dict[str, Any]:
    """Return a campaign's stages (count, time, status) and top candidates.

    Parameters
    ----------
    factory
        The store factory.
    run_id
        The campaign.
    top
        Candidates to list.
    """
    stages = []
    for record in run_records(factory, run_id):
        output = record.get("output") or {}
        count = output.get(_COUNTS.get(record["stage"], ""), None)
        if isinstance(count, list):
            count = len(count)
        stages.append(
            {
                "stage": record["stage"],
                "status": record["status"],
                "count": count,
                "seconds": record.get("seconds"),
                "finished_at": record.get("updated_at"),
            }
        )
    return {
        "run_id": run_id,
        "stages": stages,
        "top_candidates": run_candidates(factory, run_id, top),
    }
