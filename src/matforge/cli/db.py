"""``matforge db`` and ``matforge query``: what the database holds."""

from __future__ import annotations

import click

from matforge.cli.common import echo_json, open_factory, split_option, text_table

QUERY_FIELDS = (
    "material_id",
    "formula",
    "spacegroup_symbol",
    "nsites",
    "formation_energy_per_atom",
    "e_above_hull",
    "h_weight_fraction",
    "storage_score",
    "source",
)


@click.group()
def db() -> None:
    """Inspect the database."""


@db.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def db_stats(ctx: click.Context, as_json: bool) -> None:
    """Count the documents of every collection."""
    from matforge.stores.stats import database_stats

    with open_factory(ctx) as factory:
        stats = database_stats(factory)
    counts = stats["counts"]
    if as_json:
        echo_json(
            {
                "backend": stats["backend"],
                "location": stats["location"],
                **counts,
                "hydrides_by_source": stats["hydrides_by_source"],
                "rejects_by_stage": stats["rejects_by_stage"],
                "provenance": stats["provenance"].as_dict(),
            }
        )
        return
    click.echo(f"database: {stats['location']}")
    width = max(len(n) for n in counts)
    details = {
        "hydrides": stats["hydrides_by_source"],
        "rejects": stats["rejects_by_stage"],
    }
    for name, count in counts.items():
        detail = details.get(name)
        extra = (
            " (" + ", ".join(f"{k}: {v}" for k, v in detail.items()) + ")"
            if detail
            else ""
        )
        click.echo(f"  {name.ljust(width)}  {count}{extra}")
    for line in stats["provenance"].lines():
        click.echo(line)


@click.command()
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--sort",
    "sort_field",
    default="storage_score",
    show_default=True,
    help="Field to sort by (descending; entries without it are left out).",
)
@click.option("--asc", is_flag=True, help="Sort ascending.")
@click.option(
    "--elements",
    multiple=True,
    help="Keep entries holding all these elements (repeat or comma-separate).",
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Keep entries of these sources (offline, files, mp, computed; repeat or "
    "comma-separate).",
)
@click.option(
    "--min-score", type=float, default=None, help="Keep scores of at least this."
)
@click.option(
    "--has-energy/--no-energy",
    default=None,
    help="Keep only entries with / without a formation energy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.pass_context
def query(
    ctx: click.Context,
    top: int,
    sort_field: str,
    asc: bool,
    elements: tuple[str, ...],
    sources: tuple[str, ...],
    min_score: float | None,
    has_energy: bool | None,
    as_json: bool,
) -> None:
    """List hydrides, best storage score first; the unscored ones after."""
    from matforge.stores.queries import list_hydrides

    with open_factory(ctx) as factory:
        listing = list_hydrides(
            factory.store("hydrides"),
            sort_field,
            top=top,
            ascending=asc,
            elements=split_option(elements),
            source=split_option(sources) or None,
            min_score=min_score,
            has_energy=has_energy,
            fields=QUERY_FIELDS,
        )
    if as_json:
        echo_json(listing.rows)
        return
    if listing.rows:
        click.echo(text_table(listing.rows, list(QUERY_FIELDS)))
    for line in listing.notes():
        click.echo(line)
