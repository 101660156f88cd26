"""``matforge ingest``: read hydride structures into the hydrides collection."""

from __future__ import annotations

from typing import Any

import click

from matforge.cli.common import (
    MODEL_PATH_OPTION,
    echo_json,
    open_factory,
    potential_option,
    progress_bar,
)


@click.group()
def ingest() -> None:
    """Read hydride structures into the hydrides collection."""


def _run(ctx: click.Context, source: str, as_json: bool, **options: Any) -> None:
    from matforge.data import sources
    from matforge.flows.ingest import ingest_files

    call = {
        "offline": sources.ingest_offline,
        "files": ingest_files,
        "mp": sources.ingest_materials_project,
    }[source]
    with open_factory(ctx) as factory, progress_bar(None, f"ingest {source}") as bar:
        summary = call(factory, progress=bar, **options)
        if as_json:
            echo_json(summary.as_dict())
        else:
            for line in summary.lines():
                click.echo(line)
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
@click.option(
    "--energies",
    is_flag=True,
    help="Compute formation energy, e_above_hull and score of entries that come "
    "without an energy, with the ML potential (static, the stored cell).",
)
@potential_option()
@MODEL_PATH_OPTION
@click.option(
    "--energy-batch",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Structures per potential call (bounds the memory).",
)
@click.option(
    "--replace-energies",
    is_flag=True,
    help="Also recompute entries whose input gives a formation energy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_files(
    ctx: click.Context,
    paths: tuple[str, ...],
    energies: bool,
    potential: str | None,
    model_path: str | None,
    energy_batch: int,
    replace_energies: bool,
    as_json: bool,
) -> None:
    """Ingest structure files and folders, in every format pymatgen or ASE reads.

    CIF, POSCAR / CONTCAR / *.vasp, vasprun.xml, OUTCAR, extended XYZ (one
    entry per frame), Quantum ESPRESSO, JSON / JSON.gz (Structure dicts,
    entries, records) and MP-20 CSV, chosen by name and by content.
    """
    _run(
        ctx,
        "files",
        as_json,
        paths=list(paths),
        energies=energies,
        potential=potential,
        model_path=model_path,
        batch_size=energy_batch,
        replace=replace_energies,
    )


@ingest.command("mp")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_mp(ctx: click.Context, as_json: bool) -> None:
    """Ingest every metal hydride of the Materials Project (needs MP_API_KEY)."""
    _run(ctx, "mp", as_json)
