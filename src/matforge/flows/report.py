"""The report stage: a campaign's Markdown and HTML report with its plots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matforge.errors import DataNotFoundError
from matforge.flows.stage import StageMaker, execute_stage, stage_job
from matforge.report import ReportResult, write_report
from matforge.stores.runs import latest_run_id

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory


def campaign_report(
    factory: StoreFactory, run_id: str | None = None, out_dir: str | Path | None = None
) -> tuple[str, ReportResult]:
    """Write the report of a campaign (the latest when None) and return both.

    The folder defaults to ``<home>/reports/<run id>``.

    Raises
    ------
    DataNotFoundError
        If the store holds no campaign.
    """
    run_id = run_id or latest_run_id(factory)
    if run_id is None:
        raise DataNotFoundError("no campaign in the store; run `matforge run`")
    folder = out_dir or factory.settings.home_dir / "reports" / run_id
    settings = factory.settings
    return run_id, write_report(factory, run_id, folder, top=settings.run.report_top)


def report_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write the campaign's report (files under home, bytes in the data store)."""
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

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "report",
            lambda s: {"top": s.run.report_top},
            report_stage,
            upstream,
        )
