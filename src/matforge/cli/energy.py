"""``matforge energy`` and ``matforge relax-generated``: the ML potential."""

from __future__ import annotations

import click

from matforge.cli.common import (
    MODEL_PATH_OPTION,
    echo_json,
    open_factory,
    potential_option,
    progress_bar,
    settings_of,
    text_table,
)

ENERGY_COLUMNS = [
    "input",
    "formula",
    "energy_per_atom",
    "formation_energy_per_atom",
    "e_above_hull",
    "converged",
    "error",
]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--relax/--no-relax",
    default=True,
    show_default=True,
    help="Relax before taking the energy, or evaluate the structures as given.",
)
@potential_option()
@MODEL_PATH_OPTION
@click.option(
    "--batched/--sequential",
    default=None,
    help="Batched relaxations / predictions where possible [potential.batched].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_context
def energy(
    ctx: click.Context,
    paths: tuple[str, ...],
    relax: bool,
    potential: str | None,
    model_path: str | None,
    batched: bool | None,
    as_json: bool,
) -> None:
    """Energies, formation energies and hull distances of structures in files.

    PATHS are CIF, JSON / JSON.gz (Structure dicts, entries or records) or
    MP-20 CSV files or folders, as for `matforge ingest files`.
    """
    from matforge.data.files import read_paths
    from matforge.flows.relax import energies_of_records, potential_of

    settings = settings_of(ctx)
    spec = potential_of(settings, potential, model_path)
    params = settings.potential
    if batched is not None:
        params = params.model_copy(update={"batched": batched})
    with open_factory(ctx) as factory, progress_bar(None, "energy") as update:
        payload = list(
            energies_of_records(
                factory,
                read_paths(paths),
                spec,
                relax=relax,
                params=params,
                progress=update,
            )
        )
    if as_json:
        echo_json(payload)
    else:
        click.echo(f"potential: {spec.name} ({spec.version})")
        click.echo(text_table(payload, ENERGY_COLUMNS))
    if payload and all(row["error"] is not None for row in payload):
        raise SystemExit(1)


@click.command("relax-generated")
@click.option("--run", "run_id", default=None, help="Only this campaign's crystals.")
@potential_option("run.potential")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def relax_generated_command(
    ctx: click.Context, run_id: str | None, potential: str | None, as_json: bool
) -> None:
    """Relax generated crystals with the ML potential into `relaxed`."""
    from matforge.flows.relax import relax_campaigns

    with open_factory(ctx) as factory:
        totals = relax_campaigns(
            factory,
            run_id,
            potential,
            progress=lambda run, total: progress_bar(total, f"relax {run}"),
        )
    if as_json:
        echo_json(totals)
    else:
        click.echo(
            f"relaxed {totals['relaxed']} ({totals['converged']} converged, "
            f"{totals['failed']} failed), {totals['reused']} already relaxed, with "
            f"{totals['potential']}; relaxed collection: {totals['relaxed_total']}"
        )
