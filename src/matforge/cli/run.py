"""``matforge run`` and ``matforge report``: a campaign here, and its report."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from matforge.cli.common import (
    candidates_text,
    echo_json,
    open_factory,
    settings_of,
    text_table,
)
from matforge.core.sun import STABILITY_THRESHOLDS, stored_counts


def _flow_logging() -> None:
    """Print the stage progress lines (``matforge.flow``) on stderr."""
    flow_log = logging.getLogger("matforge.flow")
    if not any(getattr(h, "_matforge", False) for h in flow_log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._matforge = True  # type: ignore[attr-defined]
        flow_log.addHandler(handler)
    flow_log.setLevel(logging.INFO)
    flow_log.propagate = False


def sun_line(sun: dict[str, Any]) -> str:
    """Return the S.U.N. figures of a campaign in one line."""
    at = stored_counts(sun)
    loose, strict = (at.get(t) for t in STABILITY_THRESHOLDS)
    parts = [f"S.U.N. (stable, unique, novel) of {sun['total']} generated:"]
    if loose:
        parts.append(
            f"{loose['sun']} at 0.1 eV/atom ({100 * loose['sun_rate']:.1f} %, "
            f"{loose['sun_new_formula']} of a new formula)"
        )
    if strict:
        parts.append(f"{strict['sun']} on the hull ({100 * strict['sun_rate']:.1f} %)")
    if sun.get("out_of_scope"):
        parts.append(f"{sun['out_of_scope']} not metal hydrides (never S.U.N.)")
    if sun.get("mean_rmsd") is not None:
        parts.append(f"mean relaxation RMSD {sun['mean_rmsd']:.3f} A")
    return " ".join(parts[:1]) + " " + "; ".join(parts[1:])


def _echo_summary(summary: dict[str, Any]) -> None:
    rows = [
        {
            "stage": s["stage"],
            "status": s["status"] + (" (skipped)" if s.get("skipped") else ""),
            "count": s["count"],
            "seconds": s["seconds"],
        }
        for s in summary["stages"]
    ]
    click.echo(f"campaign {summary['run_id']}")
    click.echo(text_table(rows, ["stage", "status", "count", "seconds"]))
    if "seconds" in summary:
        click.echo(f"total: {summary['seconds']:.1f} s")
    sun = summary.get("sun")
    if sun:
        click.echo(sun_line(sun))
    top = summary["top_candidates"]
    if top:
        click.echo("")
        click.echo(candidates_text(top))
    else:
        click.echo("no ranked candidates")


@click.command()
@click.option(
    "--quick", is_flag=True, help="A small but complete campaign (tiny generator)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def run(ctx: click.Context, quick: bool, as_json: bool) -> None:
    """Run the whole discovery flow here, on the configured store; resumes."""
    from matforge.flows.discovery import run_discovery

    _flow_logging()
    summary = run_discovery(settings_of(ctx), quick=quick)
    if as_json:
        echo_json(summary)
    else:
        _echo_summary(summary)


@click.command()
@click.option("--run", "run_id", default=None, help="Campaign id (default: latest).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write in (default: <home>/reports/<run id>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the files as JSON.")
@click.pass_context
def report(
    ctx: click.Context, run_id: str | None, out_dir: str | None, as_json: bool
) -> None:
    """Write a campaign's Markdown and HTML report with its plots."""
    from matforge.flows.report import campaign_report

    with open_factory(ctx) as factory:
        run_id, result = campaign_report(factory, run_id, out_dir)
    if as_json:
        echo_json({"run_id": run_id, "files": [str(p) for p in result.files]})
        return
    for path in result.files:
        click.echo(f"wrote {path}")
