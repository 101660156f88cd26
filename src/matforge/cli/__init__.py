"""The ``matforge`` command: one module per command group.

Each command parses its options, makes one library call and renders the
result; the logic lives in the library (flows, stores, data, launchpad).
"""

from __future__ import annotations

import logging

import click

from matforge import __version__
from matforge.cli.candidates import build, candidates, novelty
from matforge.cli.causal import causal
from matforge.cli.common import MatforgeGroup
from matforge.cli.dataset import dataset
from matforge.cli.db import db, query
from matforge.cli.energy import energy, relax_generated_command
from matforge.cli.generator import generate, train
from matforge.cli.ingest import ingest
from matforge.cli.launchpad import launchpad, submit
from matforge.cli.run import report, run
from matforge.cli.score import score
from matforge.cli.serve import build_optimade_command, serve
from matforge.cli.validate import validate


@click.group(cls=MatforgeGroup)
@click.version_option(__version__, prog_name="matforge")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML settings file (default: MATFORGE_CONFIG_FILE or ~/.matforge.yaml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(config: str | None, verbose: int) -> None:
    """Matforge: discover metal hydrides for hydrogen storage."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("moyo").setLevel(logging.ERROR)


for command in (
    ingest,
    db,
    query,
    score,
    causal,
    build,
    candidates,
    novelty,
    launchpad,
    train,
    generate,
    run,
    submit,
    report,
    energy,
    dataset,
    relax_generated_command,
    validate,
    serve,
):
    cli.add_command(command)
build.add_command(build_optimade_command)


def main() -> None:
    """Run the command line."""
    cli(prog_name="matforge")


__all__ = ["cli", "main"]
