"""``matforge ingest``: read hydride structures into the hydrides collection."""

from __future__ import annotations

from typing import Any

import click

from matforge.cli.common import echo_json, open_factory, progress_bar


@click.group()
def ingest() -> None:
    """Read hydride structures into the hydrides collection."""


def _run(ctx: click.Context, source: str, as_json: bool, **options: Any) -> None:
    from matforge.data import sources

    call = {
        "offline": sources.ingest_offline,
        "files": sources.ingest_paths,
        "mp": sources.ingest_materials_project,
    }[source]
    with open_factory(ctx) as factory, progress_bar(None, f"ingest {source}") as bar:
        summary = call(factory, progress=bar, **options)
        if as_json:
            echo_json(summary.as_dict())
        else:
            click.echo(
                f"read {summary.read}: ingested {summary.ingested}, updated "
                f"{summary.updated}, unchanged {summary.unchanged}, rejected "
                f"{len(summary.rejected)}"
            )
            for reject in summary.rejected:
                click.echo(f"  rejected {reject.input}: {reject.reason}")
            click.echo(
                f"hydrides: {factory.store('hydrides').count()} in {factory.location}"
            )
    if summary.accepted == 0:
        raise SystemExit(1)


@ingest.command("offline")
@click.option(
    "--mp20", is_flag=True, help="Also read the MP-20 sample (all chemistries)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_offline(ctx: click.Context, mp20: bool, as_json: bool) -> None:
    """Ingest the offline snapshot (hydrides_seed.json.gz, optionally MP-20)."""
    _run(ctx, "offline", as_json, mp20=mp20)


@ingest.command("files")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_files(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Ingest CIF, JSON / JSON.gz or MP-20 CSV files and folders."""
    _run(ctx, "files", as_json, paths=list(paths))


@ingest.command("mp")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_mp(ctx: click.Context, as_json: bool) -> None:
    """Ingest every metal hydride of the Materials Project (needs MP_API_KEY)."""
    _run(ctx, "mp", as_json)
