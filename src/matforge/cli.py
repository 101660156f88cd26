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
    with _factory(ctx) as factory:
        counts = factory.counts()
        if as_json:
            _echo_json(
                {"backend": factory.backend, "location": factory.location, **counts}
            )
            return
        click.echo(f"database: {factory.location}")
        width = max(len(n) for n in counts)
        for name, count in counts.items():
            click.echo(f"  {name.ljust(width)}  {count}")


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

    from matforge.core.score import storage_score

    params = _settings(ctx).score
    try:
        comp = Composition(formula)
    except (ValueError, KeyError) as exc:
        raise MatforgeError(f"cannot read formula {formula!r}: {exc}") from None
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


# -- generator ---------------------------------------------------------------------
@cli.command()
@click.option("--quick", is_flag=True, help="A few epochs only (a smoke run).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Most epochs.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
@click.pass_context
def train(
    ctx: click.Context, quick: bool, epochs: int | None, device: str, as_json: bool
) -> None:
    """Train the crystal generator on the hydrides collection."""
    from matforge.flows.generator import train_generator

    settings = _settings(ctx).ml
    if epochs is None and quick:
        epochs = settings.quick_epochs
    total = epochs or settings.epochs
    with _factory(ctx) as factory, _progress(total, "train") as update:
        doc = train_generator(
            factory,
            settings,
            epochs=epochs,
            device=device,
            progress=lambda _epoch, _row: update(1),
        )
    summary = {
        "model_id": doc.model_id,
        "split_sizes": doc.split_sizes,
        **{k: v for k, v in doc.training.items() if k != "final"},
    }
    if as_json:
        _echo_json(summary)
    else:
        t = doc.training
        click.echo(
            f"model {doc.model_id}: {t['epochs_run']} epochs in {t['seconds']:.1f} s, "
            f"best validation loss {t['best_val_loss']:.4f} at epoch "
            f"{t['best_epoch']} (split {doc.split_sizes})"
        )


@cli.command()
@click.option(
    "-n", "num_samples", type=click.IntRange(min=1), default=1000, show_default=True
)
@click.option("--model", "model_id", default=None, help="Model id (default: latest).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--guided", is_flag=True, help="Steer z towards a high storage score.")
@click.option("--metrics", is_flag=True, help="Also compute and store the metrics.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print candidates as JSON.")
@click.pass_context
def generate(
    ctx: click.Context,
    num_samples: int,
    model_id: str | None,
    seed: int,
    guided: bool,
    metrics: bool,
    device: str,
    as_json: bool,
) -> None:
    """Sample candidate crystals from the generator into the generated collection."""
    from matforge.flows.generator import generate_candidates

    settings = _settings(ctx).ml
    with _factory(ctx) as factory:
        with _progress(num_samples, "generate") as update:
            docs = generate_candidates(
                factory,
                settings,
                num_samples,
                model_id=model_id,
                seed=seed,
                guided=guided,
                device=device,
                progress=update,
            )
        table = None
        if metrics:
            from matforge.flows.generator import evaluate_generator

            table = evaluate_generator(factory, docs, settings, device=device)
    if as_json:
        payload: Any = [
            {
                "id": d.generated_id,
                "formula": d.formula,
                "structure": d.structure.as_dict(),
                "cif": d.cif,
            }
            for d in docs
        ]
        if table is not None:
            payload = {"candidates": payload, "metrics": table}
        _echo_json(payload)
        return
    mean_score = sum(d.predicted_storage_score for d in docs) / len(docs)
    click.echo(
        f"generated {len(docs)} candidates with model {docs[0].model_id} "
        f"(seed {seed}{', guided' if guided else ''}); mean predicted storage "
        f"score {mean_score:.4f}"
    )
    if table is not None:
        rows = [{"metric": k, "value": v} for k, v in table.items()]
        click.echo(_table(rows, ["metric", "value"]))


def main() -> None:
    """Run the command line."""
    cli(prog_name="matforge")
