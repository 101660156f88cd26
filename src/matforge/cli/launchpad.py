"""``matforge launchpad``, ``matforge submit``: FireWorks on a cluster."""

from __future__ import annotations

import click

from matforge.cli.common import echo_json, settings_of


@click.group()
def launchpad() -> None:
    """FireWorks launchpad, worker and queue files."""


@launchpad.command("init")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder to write the files in.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the written paths as JSON."
)
@click.pass_context
def launchpad_init(ctx: click.Context, folder: str, as_json: bool) -> None:
    """Write my_launchpad.yaml, my_fworker.yaml and SLURM / PBS queue adapters."""
    from matforge.launchpad.config import init_launchpad

    paths = init_launchpad(settings_of(ctx), folder)
    if as_json:
        echo_json({"written": [str(p) for p in paths]})
        return
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(
        "these files hold credentials: they are readable by you only. Start a "
        f"worker with: rlaunch -w {paths[1]} -l {paths[0]} rapidfire"
    )


@click.command()
@click.option("--quick", is_flag=True, help="A small but complete campaign.")
@click.option(
    "--launchpad",
    "launchpad_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="my_launchpad.yaml (default: from the launchpad settings).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the ids as JSON.")
@click.pass_context
def submit(
    ctx: click.Context, quick: bool, launchpad_file: str | None, as_json: bool
) -> None:
    """Add the discovery flow to the FireWorks launchpad, as one workflow."""
    from matforge.launchpad.submit import submit_discovery

    result = submit_discovery(
        settings_of(ctx), quick=quick, launchpad_file=launchpad_file
    )
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"added campaign {result['run_id']} as workflow of {len(result['fw_ids'])} "
        f"fireworks to {result['launchpad']}; run it with `rlaunch rapidfire`"
    )
