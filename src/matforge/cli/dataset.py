"""``matforge dataset``: grow and calibrate the hydride dataset."""

from __future__ import annotations

from pathlib import Path

import click

from matforge.cli.common import (
    MODEL_PATH_OPTION,
    echo_json,
    open_factory,
    potential_option,
    progress_bar,
    settings_of,
)


@click.group()
def dataset() -> None:
    """Grow and calibrate the hydride dataset."""


@dataset.command("expand")
@click.option(
    "--target",
    type=click.IntRange(min=1),
    default=None,
    help="Hydrides wanted in the collection [expand.target].",
)
@potential_option("expand.potential")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def dataset_expand(
    ctx: click.Context, target: int | None, potential: str | None, as_json: bool
) -> None:
    """Propose hydrides by substitution, relax them and store the new ones.

    Resumable: a second run continues where the last one stopped and adds
    nothing once the collection holds TARGET hydrides.
    """
    from matforge.flows.expand import expand_dataset
    from matforge.flows.relax import potential_of

    settings = settings_of(ctx)
    spec = potential_of(settings, potential or settings.expand.potential)
    with open_factory(ctx) as factory, progress_bar(None, "relax") as update:
        summary = expand_dataset(factory, spec, target=target, progress=update)
        location = factory.location
    if as_json:
        echo_json(summary.as_dict())
        return
    click.echo(
        f"hydrides: {summary.start_count} -> {summary.final_count} "
        f"(target {summary.target}{', reached' if summary.reached else ''}) "
        f"in {location}"
    )
    click.echo(
        f"proposals {summary.proposals}: {summary.already_done} done before, "
        f"{summary.duplicates_before} duplicates, {summary.unusable} unusable; "
        f"relaxed {summary.relaxed} with {summary.potential}: accepted "
        f"{summary.accepted}, failed {summary.failed}, duplicates after "
        f"relaxation {summary.duplicates_after} ({summary.runtime_s:.0f} s)"
    )
    for reason, count in sorted(summary.reasons.items()):
        click.echo(f"  failed: {reason}: {count}")
    if summary.failed:
        click.echo("failures are in the rejects collection (stage expand)")
    if summary.skipped_elements:
        click.echo(
            "pool elements without an MP reference (left out): "
            + ", ".join(summary.skipped_elements)
        )


@dataset.command("calibrate")
@potential_option()
@MODEL_PATH_OPTION
@click.option(
    "--relax/--no-relax",
    default=False,
    show_default=True,
    help="Relax the DFT structures first, or evaluate them as given.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the parity plot (PNG) here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def dataset_calibrate(
    ctx: click.Context,
    potential: str | None,
    model_path: str | None,
    relax: bool,
    plot_path: str | None,
    as_json: bool,
) -> None:
    """Compare the pipeline's formation energies with known DFT values.

    Seed hydrides with DFT formation energies, and the formulas of
    mp_metal_hydride_formulas.txt that stored hydrides have; MAE, RMSE and a
    parity plot are stored in calibrations under the potential's name.
    """
    from matforge.flows.calibrate import run_calibration
    from matforge.flows.relax import potential_of

    spec = potential_of(settings_of(ctx), potential, model_path)
    with open_factory(ctx) as factory, progress_bar(None, "calibrate") as update:
        doc, png = run_calibration(factory, spec, relax=relax, progress=update)
        location = factory.location
    if plot_path is not None:
        path = Path(plot_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    if as_json:
        echo_json(doc.summary())
        return
    click.echo(
        f"calibration {doc.calibration_id} ({doc.potential_version}) in "
        f"{doc.runtime_s:.0f} s, stored in calibrations ({location})"
    )
    for stat in doc.stats:
        if stat.mae is None:
            click.echo(f"  {stat.dataset}: no comparison ({stat.failed} failed)")
            continue
        click.echo(
            f"  {stat.dataset}: n {stat.n}, MAE {stat.mae:.4f}, RMSE "
            f"{stat.rmse:.4f}, mean error {stat.mean_error:+.4f}, max "
            f"{stat.max_abs_error:.4f} eV/atom"
            + (f", {stat.failed} failed" if stat.failed else "")
        )
    if plot_path is not None:
        click.echo(f"parity plot: {plot_path}")
