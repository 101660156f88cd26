"""``matforge build``, ``matforge candidates`` and ``matforge novelty``."""

from __future__ import annotations

import sys

import click

from matforge.cli.common import (
    MP_OPTION,
    candidates_text,
    echo_json,
    open_factory,
    progress_bar,
)
from matforge.errors import MatforgeError


@click.group()
def build() -> None:
    """Derive collections with the builders."""


@build.command("candidates")
@MP_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build_candidates_command(ctx: click.Context, from_mp: bool, as_json: bool) -> None:
    """Judge the relaxed crystals: validity, duplicates, novelty, ranking."""
    from matforge.flows.candidates import judge_candidates

    with open_factory(ctx) as factory:
        payload = judge_candidates(factory, from_mp=from_mp)
    if as_json:
        echo_json(payload)
        return
    if payload["references_loaded"]:
        click.echo(
            f"loaded {payload['references_loaded']} known materials into references"
        )
    click.echo(
        f"judged {payload['processed']} relaxed documents in {payload['groups']} "
        f"reduced formulas ({payload['pairs_compared']} structure comparisons) in "
        f"{payload['seconds']:.1f} s: {payload['inserted']} new, "
        f"{payload['updated']} updated, {payload['unchanged']} unchanged, "
        f"{payload['removed']} removed"
    )
    click.echo(
        f"candidates: {payload['candidates']} ranked, {payload['duplicates']} "
        f"duplicates, {payload['invalid']} invalid"
    )


@build.command("hull")
@click.option("--run", "run_id", default=None, help="Campaign id (default: latest).")
@click.option(
    "--no-pricing",
    is_flag=True,
    help="Do not price the known materials the phases lack; only judge again.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build_hull_command(
    ctx: click.Context, run_id: str | None, no_pricing: bool, as_json: bool
) -> None:
    """Judge a campaign's crystals again against the hull of today's phases.

    First the known materials of its chemical systems that the offline phases
    have no energy for (MP binaries such as SrSe or SnO2) are relaxed and
    priced with the campaign's ML potential; then every crystal's energy above
    the hull, the candidates and the S.U.N. figures are computed again. A
    campaign run now does the pricing in its relax stage.
    """
    from matforge.flows.candidates import rejudge_campaign
    from matforge.stores.lock import store_writer
    from matforge.stores.runs import latest_run_id

    with open_factory(ctx) as factory:
        run_id = run_id or latest_run_id(factory)
        if run_id is None:
            raise MatforgeError("no campaign in this store: run `matforge run` first")
        with (
            store_writer(factory, "matforge build hull"),
            progress_bar(None, "known materials priced") as update,
        ):
            payload = rejudge_campaign(
                factory, run_id, price=not no_pricing, progress=update
            )
    if as_json:
        echo_json(payload)
        return
    priced = payload["priced"]
    click.echo(
        f"campaign {run_id}: priced {len(priced)} known materials with the ML "
        f"potential ({', '.join(sorted({p['formula'] for p in priced})) or 'none'}); "
        f"{len(payload['failed'])} failed"
    )
    click.echo(
        f"judged {payload['judged']} crystals again: {payload['changed']} moved by "
        "more than 1 meV/atom"
    )
    before, after = payload["sun_before"], payload["sun_after"]
    if after is not None:
        was = "" if before is None else f"{100 * before:.1f} % -> "
        click.echo(f"S.U.N. rate at 0.1 eV/atom: {was}{100 * after:.1f} %")


@click.command()
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--novel", "novel_only", is_flag=True, help="Only novel candidates.")
@click.option("--stable", "stable_only", is_flag=True, help="Only stable candidates.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_context
def candidates(
    ctx: click.Context,
    top: int,
    fmt: str,
    novel_only: bool,
    stable_only: bool,
    as_json: bool,
) -> None:
    """List the ranked candidates, best storage score first (the paper's table)."""
    from matforge.report.table import CANDIDATE_FIELDS, csv_rows, json_rows
    from matforge.stores.queries import ranked_candidates

    fmt = "json" if as_json else fmt
    with open_factory(ctx) as factory:
        rows = ranked_candidates(
            factory.store("candidates"),
            top=top,
            novel_only=novel_only,
            stable_only=stable_only,
            fields=list(CANDIDATE_FIELDS),
        )
    if fmt == "json":
        echo_json(json_rows(rows))
    elif fmt == "csv":
        import csv

        csv.writer(sys.stdout, lineterminator="\n").writerows(csv_rows(rows))
    elif rows:
        click.echo(candidates_text(rows))
    else:
        click.echo("no candidates; run `matforge build candidates` first?")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@MP_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON.")
@click.pass_context
def novelty(
    ctx: click.Context, paths: tuple[str, ...], from_mp: bool, as_json: bool
) -> None:
    """Tell whether crystals are known (against hydrides and references)."""
    from matforge.data.files import read_paths
    from matforge.data.references import novelty_of_records
    from matforge.report.table import cell

    with open_factory(ctx) as factory:
        answers = novelty_of_records(factory, read_paths(paths), from_mp=from_mp)
    if as_json:
        echo_json(answers)
    else:
        for a in answers:
            if "error" in a:
                click.echo(f"{a['input']}: not read: {a['error']}")
                continue
            match = f"matches {a['matched_id']}" if a["matched_id"] else "no match"
            ratio = ", ".join(a["known_ids_same_ratio"]) or "none"
            click.echo(
                f"{a['input']}: {a['formula']} ({a['reduced_formula']}): {match}; "
                f"same formula: {cell(a['same_formula'])}; same ratio: "
                f"{cell(a['same_ratio'])} (known: {ratio})"
            )
    if not any("error" not in a for a in answers):
        raise SystemExit(1)
