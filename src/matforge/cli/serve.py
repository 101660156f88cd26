"""``matforge serve`` and ``matforge build optimade``: candidates for everyone."""

from __future__ import annotations

import click

from matforge.cli.common import echo_json, open_factory, settings_of


@click.command("optimade")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build_optimade_command(ctx: click.Context, as_json: bool) -> None:
    """Derive the OPTIMADE structures from the candidates and hydrides."""
    from matforge.builders.optimade import build_optimade

    with open_factory(ctx) as factory:
        summary = build_optimade(factory)
        location = factory.location
    payload = summary.as_dict()
    if as_json:
        echo_json(payload)
        return
    click.echo(
        f"optimade_structures in {location}: "
        + ", ".join(f"{k} {v}" for k, v in payload.items() if not isinstance(v, list))
    )
    for failure in payload.get("failures") or []:
        click.echo(f"  not converted: {failure}")


@click.command()
@click.option("--host", default=None, help="Address to bind [serve.host: 127.0.0.1].")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port [serve.port]."
)
@click.option(
    "--base-url",
    default=None,
    help="Public base URL, behind a proxy [serve.base_url].",
)
@click.option(
    "--no-build",
    is_flag=True,
    help="Serve optimade_structures as stored (skip the incremental build).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    base_url: str | None,
    no_build: bool,
) -> None:
    """Serve the candidates: OPTIMADE API and web page, read-only, until Ctrl-C."""
    from matforge.builders.optimade import build_optimade
    from matforge.serve.app import serve as serve_api

    settings = settings_of(ctx)
    with open_factory(ctx) as factory:
        if not no_build:
            build_optimade(factory)
        serve_api(
            settings,
            host=host,
            port=port,
            base_url=base_url,
            factory=factory,
            announce=click.echo,
        )
