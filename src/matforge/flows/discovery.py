"""The whole discovery flow: every stage's Maker composed into one jobflow Flow.

ingest -> features and score -> causal discovery -> train generator ->
generate -> relax -> build candidates -> DFT validation of the top K and the
candidates rebuilt (when ``run.dft_validation``) -> report.

Composition only: each stage lives in its own module with its Maker. The same
flow runs in-process (:func:`run_discovery`, ``matforge run``) or on a cluster
through FireWorks (``matforge submit``). Job ids are derived from the
campaign's id and the stage, so a re-run overwrites the JobStore's documents
instead of adding new ones; the stages themselves skip what they already did
(see :mod:`matforge.flows.stage`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Maker

from matforge.flows.candidates import CandidatesMaker, RejudgeCandidatesMaker
from matforge.flows.causal import CausalStageMaker
from matforge.flows.dft import DFTValidationMaker
from matforge.flows.features import FeaturesScoreMaker
from matforge.flows.generator import GenerateMaker, TrainGeneratorMaker
from matforge.flows.ingest import IngestMaker
from matforge.flows.relax import RelaxGeneratedMaker
from matforge.flows.report import ReportMaker
from matforge.flows.stage import (
    MatforgeMaker,
    job_settings,
    job_uuid,
    merged_settings,
    run_flow_here,
)
from matforge.schemas.common import content_hash
from matforge.stores import StoreFactory
from matforge.stores.lock import store_writer
from matforge.stores.runs import run_summary

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings

# Sections that shape a campaign's results (not where it is stored or run).
_SHAPING = ("ingest", "score", "causal", "ml", "candidates", "run")


def quick_overrides(settings: MatforgeSettings) -> dict[str, Any]:
    """Return the settings patch of a quick campaign: tiny generator, few samples.

    After a few epochs the generator's composition head is still nearly flat
    and its score network's type logits favour hydrogen, so CDVAE's decoding
    (type refinement at every Langevin step) turns every crystal into solid
    hydrogen. A quick campaign therefore decodes each composition whole under
    charge balance (``balanced``), keeps it through the Langevin steps
    (``decode_types`` off) and conditions it on holding H and a metal: a first
    look then shows small, plausible hydrides.
    """
    return {
        "ml": {
            "epochs": settings.ml.quick_epochs,
            "pretrain_epochs": 0,
            "composition": "balanced",
            "decode_types": False,
            "hydride_redraws": max(settings.ml.hydride_redraws, 64),
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


@dataclass
class DiscoveryFlowMaker(Maker):
    """Compose the stage Makers into the discovery flow of one campaign.

    Parameters
    ----------
    name
        Name of the flow.
    run_id
        The campaign, recorded on every document.
    settings
        Science settings of every job (see :func:`~matforge.flows.stage.job_settings`).
    dft_validation
        Add the DFT validation of the top candidates.
    stages
        The Makers, by stage; the defaults get ``run_id`` and ``settings``.
    """

    name: str = "matforge discovery"
    run_id: str = "default"
    settings: dict[str, Any] = field(default_factory=dict)
    dft_validation: bool = False
    stages: dict[str, MatforgeMaker] = field(default_factory=dict)

    def _makers(self) -> list[tuple[str, MatforgeMaker]]:
        common = {"run_id": self.run_id, "settings": self.settings}
        defaults: list[tuple[str, MatforgeMaker]] = [
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
            defaults.append(("rejudge", RejudgeCandidatesMaker(settings=self.settings)))
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
        The settings (``run`` shapes the flow); their science sections travel
        with every job.
    quick
        A small but complete campaign.
    """
    overrides = quick_overrides(settings) if quick else {}
    run_id = campaign_run_id(settings, overrides)
    maker = DiscoveryFlowMaker(
        run_id=run_id,
        settings=job_settings(merged_settings(settings, overrides)),
        dft_validation=settings.run.dft_validation,
    )
    return run_id, maker.make(), overrides


def run_discovery(settings: MatforgeSettings, quick: bool = False) -> dict[str, Any]:
    """Run the discovery flow in this process and return its summary.

    Stages finished earlier for the same inputs and settings are skipped, so
    this resumes an interrupted campaign. On the embedded store the run holds
    the writer lock: a second campaign started beside it stops at once.

    Parameters
    ----------
    settings
        The settings; the store is where every job writes.
    quick
        A small but complete campaign.

    Returns
    -------
    dict
        See :func:`~matforge.stores.runs.run_summary`.
    """
    start = time.perf_counter()
    with (
        StoreFactory(settings) as factory,
        store_writer(factory, "matforge run" + (" --quick" if quick else "")),
    ):
        run_id, flow, _ = discovery_flow(settings, quick)
        outputs = run_flow_here(flow, factory)
        summary = run_summary(factory, run_id)
    skipped = {
        output["stage"]: output["skipped"]
        for output in outputs.values()
        if isinstance(output, dict) and "stage" in output
    }
    for stage in summary["stages"]:
        stage["skipped"] = skipped.get(stage["stage"])
    summary["seconds"] = time.perf_counter() - start
    return summary
