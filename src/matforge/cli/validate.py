"""``matforge validate``: DFT validation of the top candidates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from matforge.cli.common import echo_json, open_factory, settings_of, text_table
from matforge.core.sun import STABILITY_THRESHOLDS
from matforge.errors import MatforgeError
from matforge.report.table import cell as format_cell

if TYPE_CHECKING:
    from matforge.flows.dft import Selection, ValidationSummary

PAPER_MAE = 0.0775
"""eV/atom: the paper's MAE of predicted vs DFT formation energies."""

VALIDATION_COLUMNS = (
    ("rank", "rank"),
    ("formula", "formula"),
    ("E_form pred", "formation_energy_per_atom"),
    ("E_form DFT", "formation_energy_dft_per_atom"),
    ("E_hull DFT", "e_above_hull_dft"),
    ("sq. error", "squared_error"),
    ("status", "status"),
    ("seconds", "seconds"),
    ("candidate_id", "candidate_id"),
)


@click.command()
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    help="Best-ranked candidates to validate [dft.top_k].",
)
@click.option(
    "--novel",
    "novel_only",
    is_flag=True,
    help="Only candidates flagged novel (the paper validates novel ones); "
    "ranked as before.",
)
@click.option(
    "--sun",
    "sun_count",
    type=click.IntRange(min=1),
    default=None,
    help="Instead of the top: this many crystals drawn at random from the "
    "campaign's S.U.N. set, to see how many DFT keeps near the hull.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the --sun draw.",
)
@click.option(
    "--run",
    "run_id",
    default=None,
    help="Campaign of the --sun draw (default: latest).",
)
@click.option(
    "--id",
    "chosen_ids",
    multiple=True,
    metavar="CANDIDATE_ID",
    help="Instead of the top: these crystals (repeat the option), whatever "
    "their candidate status.",
)
@click.option(
    "--code",
    type=click.Choice(["gpaw", "vasp"]),
    default=None,
    help="gpaw: compute here; vasp: build atomate2 VASP workflows [dft.code].",
)
@click.option(
    "--workflow",
    "workflow_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="VASP: write the FireWorks workflow here (YAML or JSON by suffix; "
    "default <home>/dft/vasp-workflow-<hash>.yaml).",
)
@click.option("--submit", is_flag=True, help="VASP: add the workflow to the LaunchPad.")
@click.option(
    "--collect",
    is_flag=True,
    help="VASP: read finished statics from the job store into dft_tasks.",
)
@click.option(
    "--resubmit", is_flag=True, help="VASP: plan submitted, unfinished tasks again."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def validate(
    ctx: click.Context,
    top: int | None,
    novel_only: bool,
    sun_count: int | None,
    seed: int,
    run_id: str | None,
    chosen_ids: tuple[str, ...],
    code: str | None,
    workflow_path: str | None,
    submit: bool,
    collect: bool,
    resubmit: bool,
    as_json: bool,
) -> None:
    """Validate the top candidates with DFT; the table gains E_form DFT.

    GPAW runs here (MPI, dft.mpi_processes) and the candidates are updated at
    once; a candidate validated with the same settings is not computed again.
    VASP builds atomate2's MP workflows for FireWorks; --collect reads them
    back when they are done. --sun N validates a seeded random draw of N
    crystals from the campaign's S.U.N. set instead, and says how many DFT
    finds within 0.1 eV/atom of the hull; --id validates the crystals named.
    """
    from matforge.flows.dft import (
        ChosenCrystals,
        SunSample,
        dft_params,
        validate_and_rebuild,
    )

    if sun_count is not None and (top is not None or novel_only):
        raise MatforgeError("--sun draws its own crystals: leave out --top and --novel")
    if chosen_ids and (top is not None or novel_only or sun_count is not None):
        raise MatforgeError(
            "--id names the crystals: leave out --top, --novel and --sun"
        )
    if sun_count is None and run_id is not None:
        raise MatforgeError("--run chooses the campaign of a --sun draw")
    sample: Selection | None = None
    if sun_count is not None:
        sample = SunSample(sun_count, seed, run_id)
    elif chosen_ids:
        sample = ChosenCrystals(tuple(chosen_ids))
    params = dft_params(settings_of(ctx), code)
    if params.code == "vasp":
        _validate_vasp(
            ctx,
            top,
            novel_only,
            sample,
            workflow_path,
            submit,
            collect,
            resubmit,
            as_json,
        )
        return
    if workflow_path or submit or collect or resubmit:
        raise MatforgeError("--workflow, --submit, --collect and --resubmit are VASP's")

    def say(line: str) -> None:
        click.echo(f"computing {line}", err=True)

    with open_factory(ctx) as factory:
        summary = validate_and_rebuild(
            factory, top=top, progress=say, novel_only=novel_only, sample=sample
        )
    if as_json:
        echo_json(summary.as_dict())
    else:
        _print_gpaw(summary, drawn=isinstance(sample, SunSample))
    if summary.rows and summary.failed == len(summary.rows):
        raise SystemExit(1)


def _print_gpaw(summary: ValidationSummary, *, drawn: bool) -> None:
    """Print a GPAW validation's table (and the S.U.N. verdict of a draw)."""
    if not summary.rows:
        click.echo("no candidates; run `matforge build candidates` first?")
        return
    cells = []
    for row in summary.as_dict()["rows"]:
        cell = {head: format_cell(row.get(f)) for head, f in VALIDATION_COLUMNS}
        cell["seconds"] = f"{row['seconds']:.0f}"
        cells.append(cell)
    click.echo(
        f"DFT validation with GPAW (settings {summary.settings_hash}) in "
        f"{summary.seconds:.0f} s"
    )
    heads = [head for head, _ in VALIDATION_COLUMNS]
    if drawn:
        heads[0] = "draw"
        for cell in cells:
            cell["draw"] = cell.pop("rank")
    click.echo(text_table(cells, heads))
    for row in summary.rows:
        if row.error:
            click.echo(f"  {row.formula}: {row.error.splitlines()[0]}")
    if summary.mae is not None:
        click.echo(
            f"MAE of E_form predicted vs DFT over {len(summary.absolute_errors)}: "
            f"{summary.mae:.4f} eV/atom "
            f"(the paper: {PAPER_MAE} over its novel candidates)"
        )
    if drawn:
        click.echo(sun_sample_line(summary))
    click.echo("the candidates table shows them: `matforge candidates`")


def sun_sample_line(
    summary: ValidationSummary, threshold: float = STABILITY_THRESHOLDS[0]
) -> str:
    """Say how many crystals of a S.U.N. draw DFT keeps near its hull."""
    judged = [r for r in summary.rows if r.e_above_hull_dft is not None]
    kept = sum(r.e_above_hull_dft <= threshold for r in judged)
    line = (
        f"DFT keeps {kept} of {len(judged)} S.U.N. crystals within "
        f"{threshold} eV/atom of the hull"
    )
    if len(judged) < len(summary.rows):
        line += f" ({len(summary.rows) - len(judged)} without a DFT hull distance)"
    return line


def _validate_vasp(
    ctx: click.Context,
    top: int | None,
    novel_only: bool,
    sample: Selection | None,
    workflow_path: str | None,
    submit: bool,
    collect: bool,
    resubmit: bool,
    as_json: bool,
) -> None:
    from matforge.launchpad.submit import collect_vasp, validate_with_vasp

    with open_factory(ctx) as factory:
        if collect:
            payload = collect_vasp(factory)
            if as_json:
                echo_json(payload)
            else:
                click.echo(f"collected {len(payload['collected'])} finished VASP tasks")
                for d in payload["collected"]:
                    click.echo(f"  {d['purpose']} {d['formula']}: {d['state']}")
            return
        payload, plan = validate_with_vasp(
            factory,
            top=top,
            workflow_path=workflow_path,
            submit=submit,
            resubmit=resubmit,
            novel_only=novel_only,
            sample=sample,
        )
    if as_json:
        echo_json(payload)
        return
    if "workflow" not in payload:
        click.echo(
            f"nothing to submit: {len(plan.cached)} tasks done, the others "
            "submitted before (--resubmit plans them again, --collect reads results)"
        )
        return
    click.echo(
        f"VASP workflow: {len(plan.flows)} structures, {payload['fireworks']} "
        f"fireworks (MP GGA double relaxation + static) -> {payload['workflow']}"
    )
    for task in plan.tasks:
        click.echo(f"  {task.purpose} {task.formula} ({task.task_id})")
    if submit:
        click.echo("added to the LaunchPad")
    else:
        click.echo(f"submit with: lpad add {payload['workflow']}")
    click.echo("then: matforge validate --code vasp --collect")
