"""``matforge amorphous``: the second campaign, Li diffusivity in amorphous solids."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from matforge.cli.common import (
    MODEL_PATH_OPTION,
    echo_json,
    open_factory,
    progress_bar,
    settings_of,
    text_table,
)

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
TEMPERATURE_OPTION = click.option(
    "-T",
    "--temperature",
    "temperatures",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    help="Temperature in K (repeat for more).",
)


@contextmanager
def _stage_bar(total: int, desc: str) -> Iterator[Callable[[str], None]]:
    """Yield ``say(line)``: prints the line above a bar that counts MD stages."""
    from tqdm import tqdm

    with tqdm(
        total=total, desc=desc, unit="stage", file=sys.stderr, disable=None
    ) as bar:

        def say(line: str) -> None:
            bar.write(line, file=sys.stderr)
            bar.update(1)

        yield say


@click.group()
def amorphous() -> None:
    """Li diffusivity in amorphous solids: table, models, surrogate MD, report."""


@amorphous.command("ingest")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A table in feature_target.dat's format (default: the shared data's).",
)
@JSON_OPTION
@click.pass_context
def ingest_command(ctx: click.Context, path: str | None, as_json: bool) -> None:
    """Read the diffusivity table into amorphous_diffusivity; bad rows rejected."""
    from matforge.flows.amorphous import ingest_table

    with open_factory(ctx) as factory, progress_bar(None, "table rows") as update:
        summary = ingest_table(factory, path, progress=update)
        where = factory.location
    if as_json:
        echo_json(summary.as_dict())
    else:
        w = summary.write
        click.echo(
            f"read {summary.rows} rows of {summary.path}: "
            f"{len(w.documents.inserted)} new, {len(w.documents.updated)} updated, "
            f"{len(w.documents.unchanged)} unchanged, {len(w.rejected)} rejected"
        )
        for reject in w.rejected:
            click.echo(f"  rejected {reject['input']}: {reject['reason']}")
        click.echo(f"amorphous_diffusivity: {summary.documents} in {where}")
    if summary.documents == 0:
        raise SystemExit(1)


@amorphous.command("train")
@click.option(
    "--kind",
    "kinds",
    type=click.Choice(["rf", "xgb", "sisso", "all"]),
    multiple=True,
    help="Model family, repeatable (default: amorphous.models, and SISSO when "
    "amorphous.sisso).",
)
@click.option(
    "--target",
    "targets",
    type=click.Choice(["D", "lnD"]),
    multiple=True,
    help="Target of RF / XGBoost, repeatable [amorphous.targets]; SISSO: ln D.",
)
@click.option("--seed", type=int, default=None, help="Split and model seed [62].")
@click.option(
    "--no-cv",
    is_flag=True,
    help="Skip the random and grouped 5-fold CV [amorphous.cv].",
)
@JSON_OPTION
@click.pass_context
def train_command(
    ctx: click.Context,
    kinds: tuple[str, ...],
    targets: tuple[str, ...],
    seed: int | None,
    no_cv: bool,
    as_json: bool,
) -> None:
    """Train RF / XGBoost (D, ln D) and SISSO (ln D) models on the table."""
    from matforge.flows.amorphous import train_models

    with open_factory(ctx) as factory, progress_bar(None, "models") as update:
        docs = train_models(
            factory,
            kinds=kinds or None,
            targets=targets or None,
            seed=seed,
            cv=False if no_cv else None,
            progress=update,
        )
    rows = [
        {
            "model_id": d.model_id,
            "target": d.target,
            "test_r2": d.metrics.test_r2,
            "test_mae": d.metrics.test_mae,
            "test_rmse": d.metrics.test_rmse,
            "cv_random_rmse": d.metrics.cv_random_rmse,
            "cv_grouped_rmse": d.metrics.cv_grouped_rmse,
            "formula": d.formula,
        }
        for d in docs
    ]
    if as_json:
        echo_json(rows)
        return
    columns = ["model_id", "target", "test_r2", "test_mae", "test_rmse"]
    click.echo(text_table(rows, [*columns, "cv_random_rmse", "cv_grouped_rmse"]))
    for row in rows:
        if row["formula"]:
            click.echo(f"{row['model_id']}: {row['formula']}")


@amorphous.command("predict")
@click.option(
    "--model",
    "model_id",
    default=None,
    help="Model id (default: the first of the last training).",
)
@click.option("--formula", default=None, help="A composition of the table.")
@TEMPERATURE_OPTION
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Rows in feature_target.dat's format (the 42 descriptors) instead.",
)
@JSON_OPTION
@click.pass_context
def predict_command(
    ctx: click.Context,
    model_id: str | None,
    formula: str | None,
    temperatures: tuple[float, ...],
    path: str | None,
    as_json: bool,
) -> None:
    """Predict Li D (cm^2/s) with a stored model, beside the AIMD value."""
    from matforge.flows.amorphous import predict_diffusivity

    with open_factory(ctx) as factory, progress_bar(None, "rows") as update:
        result = predict_diffusivity(
            factory,
            model_id,
            formula=formula,
            temperatures=temperatures,
            path=path,
            progress=update,
        )
    if as_json:
        echo_json(result)
        return
    click.echo(f"model {result['model_id']} ({result['kind']}, {result['target']})")
    columns = ["formula", "T (K)", "predicted_cm2_s", "aimd_cm2_s", "ratio"]
    columns.append("held_out")
    rows = [
        {
            **r,
            "T (K)": f"{r['temperature']:g}",
            "predicted_cm2_s": f"{r['predicted_cm2_s']:.3e}",
            "aimd_cm2_s": f"{r['aimd_cm2_s']:.3e}",
            "held_out": {True: "yes", False: "no (fitted)"}.get(r["held_out"]),
        }
        for r in result["rows"]
    ]
    click.echo(text_table(rows, columns))
    for reject in result["rejected"]:
        click.echo(f"rejected {reject['input']}: {reject['reason']}")


def _kelvin(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


@amorphous.command("simulate")
@click.argument("formula")
@TEMPERATURE_OPTION
@click.option(
    "--potential",
    default=None,
    help="Potential name or matgl folder [amorphous.potential].",
)
@MODEL_PATH_OPTION
@click.option(
    "--atoms",
    type=click.IntRange(min=1),
    default=None,
    help="Fewest atoms in the cell [amorphous.md.target_atoms].",
)
@click.option(
    "--production-ps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Production MD per temperature, ps [amorphous.md.production_steps].",
)
@click.option(
    "--time-step",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="MD time step, fs [amorphous.md.time_step_fs].",
)
@click.option(
    "--volume-search",
    is_flag=True,
    help="Search the zero-pressure volume instead of the table's AIMD volume.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=None,
    help="CPU threads, 0 for all [amorphous.threads].",
)
@click.option("--rerun", is_flag=True, help="Run again when the same run is stored.")
@JSON_OPTION
@click.pass_context
def simulate_command(
    ctx: click.Context,
    formula: str,
    temperatures: tuple[float, ...],
    potential: str | None,
    model_path: str | None,
    atoms: int | None,
    production_ps: float | None,
    time_step: float | None,
    volume_search: bool,
    threads: int | None,
    rerun: bool,
    as_json: bool,
) -> None:
    """Melt-quench MD of FORMULA with an ML potential: Li D(T) and Ea."""
    from matforge.flows.amorphous import simulate_composition

    settings = settings_of(ctx).amorphous
    stages = len(temperatures or settings.temperatures) + 2
    with open_factory(ctx) as factory, _stage_bar(stages, f"md {formula}") as say:
        run = simulate_composition(
            factory,
            formula,
            temperatures or None,
            potential=potential,
            model_path=model_path,
            target_atoms=atoms,
            production_ps=production_ps,
            time_step_fs=time_step,
            volume_search=volume_search,
            threads=threads,
            rerun=rerun,
            progress=say,
        )
    summary = run.as_dict()
    if as_json:
        echo_json(summary)
        return
    how = "stored before" if run.reused else "run now"
    click.echo(
        f"{summary['md_id']}: {summary['formula']}, {summary['n_atoms']} atoms, "
        f"{summary['potential']}, volume from the {run.volume_source} ({how})"
    )
    rows = [
        {
            "T (K)": f["temperature"],
            "<T> (K)": _kelvin(f.get("mean_temperature")),
            "D (cm2/s)": f"{f['diffusivity_cm2_s']:.3e}",
            "std": f"{f['diffusivity_std_cm2_s']:.1e}",
            "fit window (ps)": "{:.2f}-{:.2f}".format(*f["fit_window_ps"]),
        }
        for f in summary["fits"]
    ]
    columns = ["T (K)", "<T> (K)", "D (cm2/s)", "std", "fit window (ps)"]
    click.echo(text_table(rows, columns))
    if summary["ea_ev"] is not None:
        click.echo(f"Ea = {summary['ea_ev']:.3f} ± {summary['ea_std_ev']:.3f} eV")


@amorphous.command("report")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write in (default: <home>/reports/amorphous).",
)
@JSON_OPTION
@click.pass_context
def report_command(ctx: click.Context, out_dir: str | None, as_json: bool) -> None:
    """Write the campaign's Markdown / HTML report: parity, importances, D(T)."""
    from matforge.flows.amorphous import amorphous_report

    with open_factory(ctx) as factory, progress_bar(None, "report") as update:
        result = amorphous_report(factory, out_dir)
        update(len(result.files))
    if as_json:
        echo_json({"files": [str(p) for p in result.files]})
        return
    for path in result.files:
        click.echo(f"wrote {path}")


def _flow_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--no-train", is_flag=True, help="Skip the training job.")(
        command
    )
    command = click.option(
        "--potential",
        default=None,
        help="MD potential name or matgl folder [amorphous.potential].",
    )(command)
    command = TEMPERATURE_OPTION(command)
    return click.argument("compositions", nargs=-1)(command)


def _echo_flow(result: dict[str, Any], verb: str) -> None:
    click.echo(f"amorphous campaign {result['run_id']} {verb}")


@amorphous.command("run")
@_flow_options
@JSON_OPTION
@click.pass_context
def run_command(
    ctx: click.Context,
    compositions: tuple[str, ...],
    temperatures: tuple[float, ...],
    potential: str | None,
    no_train: bool,
    as_json: bool,
) -> None:
    """Run the flow here: ingest, train, MD of each of COMPOSITIONS, report."""
    from matforge.flows.amorphous import run_amorphous

    result = run_amorphous(
        settings_of(ctx),
        compositions,
        temperatures=temperatures or None,
        potential=potential,
        train=not no_train,
    )
    if as_json:
        echo_json(result)
        return
    _echo_flow(result, f"done in {result['seconds']:.1f} s")
    if result["train"]:
        click.echo(f"models: {', '.join(result['train']['model_ids'])}")
    for formula, md in result["md"].items():
        ea = "-" if md["ea_ev"] is None else f"{md['ea_ev']:.3f} eV"
        click.echo(f"{formula}: {md['md_id']}, Ea {ea}")
    if result["report"]:
        click.echo(f"report: {result['report']['folder']}")


@amorphous.command("submit")
@_flow_options
@click.option(
    "--launchpad",
    "launchpad_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="my_launchpad.yaml (default: from the launchpad settings).",
)
@JSON_OPTION
@click.pass_context
def submit_command(
    ctx: click.Context,
    compositions: tuple[str, ...],
    temperatures: tuple[float, ...],
    potential: str | None,
    no_train: bool,
    launchpad_file: str | None,
    as_json: bool,
) -> None:
    """Add the flow to the FireWorks launchpad, one firework per job."""
    from matforge.launchpad.submit import submit_amorphous

    result = submit_amorphous(
        settings_of(ctx),
        compositions,
        temperatures=temperatures or None,
        potential=potential,
        train=not no_train,
        launchpad_file=launchpad_file,
    )
    if as_json:
        echo_json(result)
        return
    _echo_flow(
        result,
        f"added as {len(result['fw_ids'])} fireworks to {result['launchpad']}; run "
        "it with `rlaunch rapidfire`",
    )
