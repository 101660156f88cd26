"""The ``matforge`` command."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from matforge import __version__
from matforge.errors import MatforgeError

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


class _Group(click.Group):
    """A group that turns matforge's errors into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MatforgeError as exc:
            raise click.ClickException(str(exc)) from None


def _settings(ctx: click.Context):
    from matforge.settings import load_settings

    root = ctx.find_root()
    if "settings" not in root.meta:
        root.meta["settings"] = load_settings(root.params.get("config"))
    return root.meta["settings"]


@contextmanager
def _factory(ctx: click.Context) -> Iterator[Any]:
    from matforge.stores import StoreFactory

    factory = StoreFactory(_settings(ctx))
    try:
        yield factory
    finally:
        factory.close()


@contextmanager
def _progress(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    """Yield an update function of a progress bar on stderr (hidden off a TTY)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="rec", file=sys.stderr, disable=None) as bar:
        yield bar.update


def _echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


@click.group(cls=_Group)
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


# -- ingest ----------------------------------------------------------------------
@cli.group()
def ingest() -> None:
    """Read hydride structures into the hydrides collection."""


def _report_ingest(summary: Any, as_json: bool, factory: Any) -> None:
    if as_json:
        _echo_json(summary.as_dict())
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


def _run_ingest(
    ctx: click.Context, records: Any, source: str, inputs: list[str], as_json: bool
) -> None:
    from matforge.data.ingest import ingest_records

    with _factory(ctx) as factory, _progress(None, f"ingest {source}") as update:
        summary = ingest_records(records, factory, source, inputs, progress=update)
        _report_ingest(summary, as_json, factory)


@ingest.command("offline")
@click.option(
    "--mp20", is_flag=True, help="Also read the MP-20 sample (all chemistries)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_offline(ctx: click.Context, mp20: bool, as_json: bool) -> None:
    """Ingest the offline snapshot (hydrides_seed.json.gz, optionally MP-20)."""
    from matforge.data.offline import offline_files, offline_records

    shared = _settings(ctx).shared_data_dir()
    inputs = [str(p) for p in offline_files(shared, mp20)]
    _run_ingest(ctx, offline_records(shared, mp20), "offline", inputs, as_json)


@ingest.command("files")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_files(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Ingest CIF, JSON / JSON.gz or MP-20 CSV files and folders."""
    from matforge.data.files import read_paths

    _run_ingest(ctx, read_paths(paths), "files", list(paths), as_json)


@ingest.command("mp")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest_mp(ctx: click.Context, as_json: bool) -> None:
    """Ingest every metal hydride of the Materials Project (needs MP_API_KEY)."""
    from matforge.data.mp import mp_records

    settings = _settings(ctx)
    if settings.mp_api_key is None:
        raise MatforgeError(
            "no Materials Project API key: set MP_API_KEY or MATFORGE_MP_API_KEY"
        )
    records = mp_records(
        settings.mp_api_key.get_secret_value(), page_size=settings.ingest.mp_page_size
    )
    _run_ingest(ctx, records, "mp", ["mp-api:materials/summary"], as_json)


# -- database ----------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Inspect the database."""


@db.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def db_stats(ctx: click.Context, as_json: bool) -> None:
    """Count the documents of every collection."""
    from collections import Counter

    with _factory(ctx) as factory:
        counts = factory.counts()
        # computed hydrides and failed relaxations must be visible at a glance
        by_source = Counter(
            d.get("source") for d in factory.store("hydrides").query({}, ["source"])
        )
        by_stage = Counter(
            d.get("stage") for d in factory.store("rejects").query({}, ["stage"])
        )
        if as_json:
            _echo_json(
                {
                    "backend": factory.backend,
                    "location": factory.location,
                    **counts,
                    "hydrides_by_source": dict(sorted(by_source.items())),
                    "rejects_by_stage": dict(sorted(by_stage.items())),
                }
            )
            return
        click.echo(f"database: {factory.location}")
        width = max(len(n) for n in counts)
        details = {
            "hydrides": by_source,
            "rejects": by_stage,
        }
        for name, count in counts.items():
            detail = details.get(name)
            extra = (
                " (" + ", ".join(f"{k}: {v}" for k, v in sorted(detail.items())) + ")"
                if detail
                else ""
            )
            click.echo(f"  {name.ljust(width)}  {count}{extra}")


@cli.command()
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
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.pass_context
def query(
    ctx: click.Context,
    top: int,
    sort_field: str,
    asc: bool,
    elements: tuple[str, ...],
    as_json: bool,
) -> None:
    """List hydrides, best storage score first."""
    from matforge.stores.queries import top_documents

    symbols = [e.strip() for item in elements for e in item.split(",") if e.strip()]
    with _factory(ctx) as factory:
        rows = top_documents(
            factory.store("hydrides"),
            sort_field,
            top=top,
            ascending=asc,
            elements=symbols,
            fields=QUERY_FIELDS,
        )
    if as_json:
        _echo_json(rows)
    elif rows:
        click.echo(_table(rows, list(QUERY_FIELDS)))
    else:
        click.echo("no hydrides match; run `matforge ingest offline` first?")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("formula")
@click.argument("e_form", type=float)
@click.option("--json", "as_json", is_flag=True, help="Print the score as JSON.")
@click.pass_context
def score(ctx: click.Context, formula: str, e_form: float, as_json: bool) -> None:
    """Hydrogen Storage Score of FORMULA with formation energy E_FORM (eV/atom)."""
    from pymatgen.core import Composition

    from matforge.core.chemistry import unknown_species
    from matforge.core.score import storage_score

    params = _settings(ctx).score
    try:
        comp = Composition(formula)
    except (ValueError, KeyError) as exc:
        raise MatforgeError(f"cannot read formula {formula!r}: {exc}") from None
    unknown = unknown_species(comp)
    if unknown:
        raise MatforgeError(
            f"cannot read formula {formula!r}: unknown element(s) {', '.join(unknown)}"
        )
    if comp["H"] == 0:
        raise MatforgeError(f"{formula} holds no hydrogen")
    try:
        result = storage_score(comp, e_form, params.e_threshold, params.sigma)
    except ValueError as exc:
        raise MatforgeError(str(exc)) from None
    payload = {
        "formula": formula,
        "h_weight_fraction": result.h_weight_fraction,
        "energy_factor": result.energy_factor,
        "storage_score": result.storage_score,
    }
    if as_json:
        _echo_json(payload)
    else:
        click.echo(
            f"{formula}: w_H = {result.h_weight_fraction:.4f}, "
            f"f(E_form = {e_form:g}) = {result.energy_factor:.4f}, "
            f"storage score = {result.storage_score:.4f}"
        )


# -- causal discovery --------------------------------------------------------------
CAUSAL_TESTS = ("fisherz", "kci", "chisq", "gsq")  # the settings' causal.test values


def _causal_text(doc: Any) -> list[str]:
    boot = doc.bootstrap
    lines = [
        f"causal graph {doc.graph_id}: FCI ({doc.test}, alpha {doc.alpha:g}) on "
        f"{doc.n_samples} rows x {len(doc.nodes)} columns in {doc.runtime_s:.2f} s"
        + (
            f"; bootstrap {boot.succeeded}/{boot.resamples} in {boot.runtime_s:.1f} s"
            if boot is not None
            else ""
        )
    ]
    for dropped in [*doc.data.dropped_rows, *doc.dropped_columns]:
        lines.append(f"  dropped {dropped.name}: {dropped.reason}")
    lines.append("edges (stability: share of resamples with the adjacency):")
    for edge in doc.edges:
        share = "-" if edge.stability is None else f"{edge.stability:.2f}"
        lines.append(f"  {edge}  {share}")
    lines.append(f"neighbourhood of {doc.target}:")
    for near in doc.neighbourhood or []:
        how = (
            f"{near.name} {near.edge} {doc.target}"
            if near.edge
            else f"via {', '.join(near.path[1:-1])}"
        )
        share = ""
        if near.stability is not None:
            share = (
                f"; adjacent in {near.stability:.2f}, in the neighbourhood in "
                f"{near.neighbourhood_frequency:.2f} of the resamples"
            )
        lines.append(f"  {near.name}: {near.relation} ({how}){share}")
    if not doc.neighbourhood:
        lines.append("  (none)")
    lines.append(
        f"selected features (stability >= {doc.stability_threshold:g}): "
        f"{', '.join(doc.selected_features) or 'none'}"
    )
    return lines


@cli.command()
@click.option(
    "--from-csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Run on this table (header row; .tsv: tab-separated) instead of the "
    "store's hydrides; the result is printed, not stored.",
)
@click.option("--target", default=None, help="Target column [causal.target].")
@click.option(
    "--categorical",
    multiple=True,
    help="Categorical CSV column (repeat or comma-separate).",
)
@click.option(
    "--ignore",
    multiple=True,
    help="CSV column to leave out (repeat or comma-separate).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Significance level [causal.alpha].",
)
@click.option(
    "--test",
    type=click.Choice(CAUSAL_TESTS),
    default=None,
    help="Independence test [causal.test].",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=None,
    help="Bootstrap resamples, 0 for none [causal.bootstrap].",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="[causal.seed]")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the picture (PNG) here and its DOT source beside it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON.")
@click.pass_context
def causal(
    ctx: click.Context,
    csv_path: str | None,
    target: str | None,
    categorical: tuple[str, ...],
    ignore: tuple[str, ...],
    alpha: float | None,
    test: str | None,
    bootstrap: int | None,
    seed: int | None,
    plot_path: str | None,
    as_json: bool,
) -> None:
    """Causal discovery (FCI) around the storage score, or any table's target."""
    from pathlib import Path

    from matforge.settings import CausalSettings

    settings = _settings(ctx)
    wanted = {"target": target, "alpha": alpha, "test": test}
    wanted |= {"bootstrap": bootstrap, "seed": seed}
    overrides = {k: v for k, v in wanted.items() if v is not None}
    params = CausalSettings.model_validate(settings.causal.model_dump() | overrides)
    split = [c.strip() for item in categorical for c in item.split(",") if c.strip()]
    skip = [c.strip() for item in ignore for c in item.split(",") if c.strip()]
    if csv_path is None and (split or skip):
        raise MatforgeError("--categorical and --ignore apply to --from-csv tables")
    with _progress(params.bootstrap or None, "bootstrap") as update:
        if csv_path is None:
            from matforge.flows.causal import run_causal_stage

            with _factory(ctx) as factory:
                doc, blobs = run_causal_stage(
                    factory, params, artefacts=True, progress=update
                )
                where = f"stored in causal_graphs ({factory.location})"
        else:
            from matforge.causal.table import prepare_table, read_csv_table
            from matforge.flows.causal import analyse, render_artefacts

            table = prepare_table(
                read_csv_table(csv_path, split, skip),
                params.target,
                tiers=params.tiers if params.background_knowledge else (),
                collinearity_r2=params.collinearity_r2,
            )
            doc = analyse(table, params, inputs=[csv_path], progress=update)
            blobs = render_artefacts(doc, table) if plot_path else {}
            where = "not stored (table from --from-csv)"
    if plot_path is not None:
        png = Path(plot_path)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(blobs["png"])
        png.with_suffix(".dot").write_bytes(blobs["dot"])
    if as_json:
        _echo_json(doc.summary())
        return
    for line in _causal_text(doc):
        click.echo(line)
    click.echo(where)
    if plot_path is not None:
        click.echo(f"picture: {plot_path} (DOT: {Path(plot_path).with_suffix('.dot')})")


# -- ML-potential energies ---------------------------------------------------------
ENERGY_COLUMNS = [
    "input",
    "formula",
    "energy_per_atom",
    "formation_energy_per_atom",
    "e_above_hull",
    "converged",
    "error",
]


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--relax/--no-relax",
    default=True,
    show_default=True,
    help="Relax before taking the energy, or evaluate the structures as given.",
)
@click.option("--potential", default=None, help="Potential name [potential.name].")
@click.option(
    "--model-path",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of a saved matgl model [potential.model_path].",
)
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
    from matforge.flows.potentials import compute_energies, potential_of

    settings = _settings(ctx)
    spec = potential_of(settings, potential, model_path)
    params = settings.potential
    if batched is not None:
        params = params.model_copy(update={"batched": batched})
    records = list(read_paths(paths))
    good = [r for r in records if r.structure is not None and r.error is None]
    with _factory(ctx) as factory, _progress(len(good), "energy") as update:
        rows = compute_energies(
            factory,
            [r.structure for r in good],
            [(r.input, r.material_id) for r in good],
            spec,
            relax=relax,
            params=params,
            progress=update,
        )
    by_input = iter(row.as_dict() for row in rows)
    payload = []
    for record in records:
        if record.structure is not None and record.error is None:
            payload.append(next(by_input))
        else:
            payload.append(
                {
                    "input": record.input,
                    "material_id": record.material_id,
                    "formula": None,
                    "energy_per_atom": None,
                    "formation_energy_per_atom": None,
                    "e_above_hull": None,
                    "potential": spec.name,
                    "potential_version": spec.version,
                    "relaxed": relax,
                    "converged": False,
                    "error": record.error or "no structure in the input",
                }
            )
    if as_json:
        _echo_json(payload)
    else:
        click.echo(f"potential: {spec.name} ({spec.version})")
        click.echo(_table(payload, ENERGY_COLUMNS))
    if payload and all(row["error"] is not None for row in payload):
        raise SystemExit(1)


# -- dataset curation --------------------------------------------------------------
@cli.group()
def dataset() -> None:
    """Grow and calibrate the hydride dataset."""


@dataset.command("expand")
@click.option(
    "--target",
    type=click.IntRange(min=1),
    default=None,
    help="Hydrides wanted in the collection [expand.target].",
)
@click.option(
    "--potential",
    default=None,
    help="Potential name [expand.potential, else potential.name].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def dataset_expand(
    ctx: click.Context, target: int | None, potential: str | None, as_json: bool
) -> None:
    """Propose hydrides by substitution, relax them and store the new ones.

    Resumable: a second run continues where the last one stopped and adds
    nothing once the collection holds TARGET hydrides.
    """
    from matforge.data.expand import expand_dataset
    from matforge.flows.potentials import potential_of

    settings = _settings(ctx)
    spec = potential_of(settings, potential or settings.expand.potential)
    with _factory(ctx) as factory, _progress(None, "relax") as update:
        summary = expand_dataset(factory, spec, target=target, progress=update)
        location = factory.location
    if as_json:
        _echo_json(summary.as_dict())
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
@click.option("--potential", default=None, help="Potential name [potential.name].")
@click.option(
    "--model-path",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of a saved matgl model [potential.model_path].",
)
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
    from pathlib import Path

    from matforge.data.calibrate import run_calibration
    from matforge.flows.potentials import potential_of

    spec = potential_of(_settings(ctx), potential, model_path)
    with _factory(ctx) as factory, _progress(None, "calibrate") as update:
        doc, png = run_calibration(factory, spec, relax=relax, progress=update)
        location = factory.location
    if plot_path is not None:
        path = Path(plot_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    if as_json:
        _echo_json(doc.summary())
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


def main() -> None:
    """Run the command line."""
    cli(prog_name="matforge")


if __name__ == "__main__":
    main()
