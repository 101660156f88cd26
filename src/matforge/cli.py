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


# -- candidates ----------------------------------------------------------------------
# (heading, candidates field, CSV column as in the paper's table)
CANDIDATE_COLUMNS = (
    ("rank", "rank", "rank"),
    ("formula", "formula", "formula"),
    ("E_form pred", "formation_energy_per_atom", "e_form_predicted_ev_per_atom"),
    ("E_form DFT", "formation_energy_dft_per_atom", "e_form_dft_ev_per_atom"),
    ("score", "storage_score", "h_storage_score"),
    ("sq. error", "squared_error", "squared_error"),
    ("known id", "matched_id", "mp_id"),
    ("same formula", "same_formula", "same_formula"),
    ("same ratio", "same_ratio", "same_ratio"),
    ("e_above_hull", "e_above_hull", "e_above_hull_ev_per_atom"),
    ("stable", "is_stable", "stable"),
    ("novel", "is_novel", "novel"),
    ("candidate_id", "candidate_id", "candidate_id"),
)
NOVELTY_FIELDS = (
    "input",
    "formula",
    "reduced_formula",
    "same_formula",
    "same_ratio",
    "matched_id",
    "known_ids_same_ratio",
)


@cli.group()
def build() -> None:
    """Derive collections with the builders."""


MP_OPTION = click.option(
    "--mp",
    "from_mp",
    is_flag=True,
    help="Also add the Materials Project materials of these chemical systems to "
    "the references (online; needs MP_API_KEY).",
)


@build.command("candidates")
@MP_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build_candidates_command(ctx: click.Context, from_mp: bool, as_json: bool) -> None:
    """Judge the relaxed crystals: validity, duplicates, novelty, ranking."""
    from collections import Counter

    from matforge.builders.candidates import build_candidates
    from matforge.data.references import ensure_references, load_mp_references
    from matforge.stores.queries import scan_documents

    with _factory(ctx) as factory:
        loaded = ensure_references(factory)
        if from_mp:
            systems = {
                d["chemsys"]
                for d in scan_documents(factory.store("relaxed"), ["chemsys"])
                if d.get("chemsys")
            }
            result = load_mp_references(factory, systems)
            loaded += len(result.inserted) + len(result.updated)
        summary = build_candidates(factory)
        counts = Counter(
            d.get("status")
            for d in scan_documents(factory.store("candidates"), ["status"])
        )
    payload = {
        "references_loaded": loaded,
        **summary.as_dict(),
        "candidates": counts.get("candidate", 0),
        "duplicates": counts.get("duplicate", 0),
        "invalid": counts.get("invalid", 0),
    }
    if as_json:
        _echo_json(payload)
        return
    if loaded:
        click.echo(f"loaded {loaded} known materials into references")
    click.echo(
        f"judged {summary.processed} relaxed documents in {summary.groups} reduced "
        f"formulas ({summary.pairs_compared} structure comparisons) in "
        f"{summary.seconds:.1f} s: {summary.inserted} new, {summary.updated} "
        f"updated, {summary.unchanged} unchanged, {summary.removed} removed"
    )
    click.echo(
        f"candidates: {payload['candidates']} ranked, {payload['duplicates']} "
        f"duplicates, {payload['invalid']} invalid"
    )


def _cell(value: Any, csv_style: bool) -> str:
    if value is None:
        return "" if csv_style else "-"
    if isinstance(value, bool):
        return (
            ("TRUE" if value else "FALSE") if csv_style else ("yes" if value else "no")
        )
    if isinstance(value, float):
        return repr(value) if csv_style else f"{value:.3f}"
    return str(value)


@cli.command()
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--novel", "novel_only", is_flag=True, help="Only novel candidates.")
@click.option("--stable", "stable_only", is_flag=True, help="Only stable candidates.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_context
def candidates(
    ctx: click.Context,
    top: int,
    fmt: str,
    novel_only: bool,
    stable_only: bool,
    as_json: bool,
) -> None:
    """List the ranked candidates, best storage score first (the paper's table)."""
    fmt = "json" if as_json else fmt
    from matforge.stores.queries import ranked_candidates

    fields = [field for _, field, _ in CANDIDATE_COLUMNS if field != "rank"]
    with _factory(ctx) as factory:
        rows = ranked_candidates(
            factory.store("candidates"),
            top=top,
            novel_only=novel_only,
            stable_only=stable_only,
            fields=fields,
        )
    if fmt == "json":
        _echo_json([{f: row.get(f) for _, f, _ in CANDIDATE_COLUMNS} for row in rows])
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([column for _, _, column in CANDIDATE_COLUMNS])
        for row in rows:
            writer.writerow([_cell(row.get(f), True) for _, f, _ in CANDIDATE_COLUMNS])
    elif rows:
        cells = [
            {head: _cell(row.get(f), False) for head, f, _ in CANDIDATE_COLUMNS}
            for row in rows
        ]
        click.echo(_table(cells, [head for head, _, _ in CANDIDATE_COLUMNS]))
    else:
        click.echo("no candidates; run `matforge build candidates` first?")


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
@MP_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON.")
@click.pass_context
def novelty(
    ctx: click.Context, paths: tuple[str, ...], from_mp: bool, as_json: bool
) -> None:
    """Tell whether crystals are known (against hydrides and references)."""
    from pymatgen.core import Structure

    from matforge.core.novelty import assess_novelty, known_materials, make_matcher
    from matforge.data.files import read_paths
    from matforge.data.references import (
        ensure_references,
        known_documents,
        load_mp_references,
    )

    records = list(read_paths(paths))
    formulas = {
        r.structure.composition.reduced_formula
        for r in records
        if r.structure is not None
    }
    params = _settings(ctx).candidates
    with _factory(ctx) as factory:
        ensure_references(factory)
        if from_mp:
            systems = {
                "-".join(sorted(el.symbol for el in r.structure.composition.elements))
                for r in records
                if r.structure is not None
            }
            load_mp_references(factory, systems)
        stores = [factory.store("hydrides"), factory.store("references")]
        found = known_documents(stores, formulas)
    known = known_materials(
        [
            (d["material_id"], Structure.from_dict(d["structure"]))
            for docs in found.values()
            for d in docs
        ]
    )
    matcher = make_matcher(params.ltol, params.stol, params.angle_tol)
    answers: list[dict[str, Any]] = []
    for record in records:
        if record.structure is None:
            answers.append({"input": record.input, "error": record.error})
            continue
        result = assess_novelty(
            record.structure, record.structure.composition, known, matcher
        )
        answers.append(
            {
                "input": record.input,
                "formula": result.formula,
                "reduced_formula": result.reduced_formula,
                "same_formula": result.same_formula,
                "same_ratio": result.same_ratio,
                "matched_id": result.matched_id,
                "known_ids_same_ratio": list(result.same_ratio_ids),
            }
        )
    if as_json:
        _echo_json(answers)
    else:
        for a in answers:
            if "error" in a:
                click.echo(f"{a['input']}: not read: {a['error']}")
                continue
            match = f"matches {a['matched_id']}" if a["matched_id"] else "no match"
            ratio = ", ".join(a["known_ids_same_ratio"]) or "none"
            click.echo(
                f"{a['input']}: {a['formula']} ({a['reduced_formula']}): {match}; "
                f"same formula: {_cell(a['same_formula'], False)}; same ratio: "
                f"{_cell(a['same_ratio'], False)} (known: {ratio})"
            )
    if not any("error" not in a for a in answers):
        raise SystemExit(1)


# -- FireWorks -----------------------------------------------------------------------
@cli.group()
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
    from matforge.launchpad.config import write_launchpad_files

    settings = _settings(ctx)
    with _factory(ctx) as factory:
        job_store = factory.job_store().as_dict()
    paths = write_launchpad_files(settings, folder, job_store)
    if as_json:
        _echo_json({"written": [str(p) for p in paths]})
        return
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(
        "these files hold credentials: they are readable by you only. Start a "
        f"worker with: rlaunch -w {paths[1]} -l {paths[0]} rapidfire"
    )


# -- generator ---------------------------------------------------------------------
@cli.command()
@click.option("--quick", is_flag=True, help="A few epochs only (a smoke run).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Most epochs.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True
)
@click.option(
    "--no-pretrain",
    is_flag=True,
    help="Skip pre-training on the MP-20 sample (--quick skips it too).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
@click.pass_context
def train(
    ctx: click.Context,
    quick: bool,
    epochs: int | None,
    device: str,
    no_pretrain: bool,
    as_json: bool,
) -> None:
    """Pre-train on the MP-20 sample, then train on the hydrides collection."""
    from matforge.flows.generator import train_generator

    all_settings = _settings(ctx)
    settings = all_settings.ml
    if epochs is None and quick:
        epochs = settings.quick_epochs
    total = epochs or settings.epochs
    pretrain_dir = None
    if not (quick or no_pretrain) and settings.pretrain_epochs > 0:
        pretrain_dir = all_settings.shared_data_dir() / "mp20_sample"
    with (
        _factory(ctx) as factory,
        _progress(
            settings.pretrain_epochs if pretrain_dir else 0, "pre-train"
        ) as pre_update,
        _progress(total, "train") as update,
    ):
        doc = train_generator(
            factory,
            settings,
            epochs=epochs,
            device=device,
            progress=lambda _epoch, _row: update(1),
            pretrain_dir=pretrain_dir,
            pretrain_progress=lambda _epoch, _row: pre_update(1),
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


# -- the discovery flow --------------------------------------------------------------
def _flow_logging() -> None:
    """Print the stage progress lines (``matforge.flow``) on stderr."""
    flow_log = logging.getLogger("matforge.flow")
    if not any(getattr(h, "_matforge", False) for h in flow_log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._matforge = True  # type: ignore[attr-defined]
        flow_log.addHandler(handler)
    flow_log.setLevel(logging.INFO)
    flow_log.propagate = False


def _echo_summary(summary: dict[str, Any]) -> None:
    rows = [
        {
            "stage": s["stage"],
            "status": s["status"] + (" (skipped)" if s.get("skipped") else ""),
            "count": s["count"],
            "seconds": s["seconds"],
        }
        for s in summary["stages"]
    ]
    click.echo(f"campaign {summary['run_id']}")
    click.echo(_table(rows, ["stage", "status", "count", "seconds"]))
    if "seconds" in summary:
        click.echo(f"total: {summary['seconds']:.1f} s")
    top = summary["top_candidates"]
    if top:
        click.echo("")
        cells = [
            {head: _cell(row.get(f), False) for head, f, _ in CANDIDATE_COLUMNS}
            for row in top
        ]
        click.echo(_table(cells, [head for head, _, _ in CANDIDATE_COLUMNS]))
    else:
        click.echo("no ranked candidates")


@cli.command()
@click.option(
    "--quick", is_flag=True, help="A small but complete campaign (tiny generator)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def run(ctx: click.Context, quick: bool, as_json: bool) -> None:
    """Run the whole discovery flow here, on the configured store; resumes."""
    from matforge.flows.discovery import run_discovery

    _flow_logging()
    summary = run_discovery(
        _settings(ctx), quick=quick, config_file=ctx.find_root().params.get("config")
    )
    if as_json:
        _echo_json(summary)
    else:
        _echo_summary(summary)


@cli.command()
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
        _settings(ctx), quick=quick, launchpad_file=launchpad_file
    )
    if as_json:
        _echo_json(result)
        return
    click.echo(
        f"added campaign {result['run_id']} as workflow of {len(result['fw_ids'])} "
        f"fireworks to {result['launchpad']}; run it with `rlaunch rapidfire`"
    )


@cli.command()
@click.option("--run", "run_id", default=None, help="Campaign id (default: latest).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write in (default: <home>/reports/<run id>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the files as JSON.")
@click.pass_context
def report(
    ctx: click.Context, run_id: str | None, out_dir: str | None, as_json: bool
) -> None:
    """Write a campaign's Markdown and HTML report with its plots."""
    from matforge.flows.runs import latest_run_id
    from matforge.report import write_report

    settings = _settings(ctx)
    with _factory(ctx) as factory:
        run_id = run_id or latest_run_id(factory)
        if run_id is None:
            raise click.ClickException("no campaign in the store; run `matforge run`")
        folder = out_dir or settings.home_dir / "reports" / run_id
        result = write_report(factory, run_id, folder, top=settings.run.report_top)
    if as_json:
        _echo_json({"run_id": run_id, "files": [str(p) for p in result.files]})
        return
    for path in result.files:
        click.echo(f"wrote {path}")


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


# -- relaxation of generated crystals ----------------------------------------------
@cli.command("relax-generated")
@click.option("--run", "run_id", default=None, help="Only this campaign's crystals.")
@click.option("--potential", default=None, help="Potential name [potential.name].")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def relax_generated_command(
    ctx: click.Context, run_id: str | None, potential: str | None, as_json: bool
) -> None:
    """Relax generated crystals with the ML potential into `relaxed`."""
    from matforge.flows.relax import relax_generated

    settings = _settings(ctx)
    with _factory(ctx) as factory:
        criteria = {"run_id": run_id} if run_id else {}
        by_run: dict[str | None, list[str]] = {}
        for doc in factory.store("generated").query(
            criteria, properties=["generated_id", "run_id"]
        ):
            by_run.setdefault(doc.get("run_id"), []).append(doc["generated_id"])
        if not by_run:
            raise MatforgeError("no generated crystals; run `matforge generate` first")
        totals: dict[str, Any] = {
            "relaxed": 0,
            "converged": 0,
            "failed": 0,
            "reused": 0,
        }
        for run, ids in by_run.items():
            with _progress(len(ids), f"relax {run}") as update:
                out = relax_generated(
                    factory, run, settings, ids, potential=potential, progress=update
                )
            for key in totals:
                totals[key] += out[key]
            totals["potential"] = out["potential"]
        totals["relaxed_total"] = factory.store("relaxed").count()
    if as_json:
        _echo_json(totals)
    else:
        click.echo(
            f"relaxed {totals['relaxed']} ({totals['converged']} converged, "
            f"{totals['failed']} failed), {totals['reused']} already relaxed, with "
            f"{totals['potential']}; relaxed collection: {totals['relaxed_total']}"
        )


# -- DFT validation ------------------------------------------------------------------
VALIDATION_COLUMNS = (
    ("rank", "rank"),
    ("formula", "formula"),
    ("E_form pred", "formation_energy_per_atom"),
    ("E_form DFT", "formation_energy_dft_per_atom"),
    ("sq. error", "squared_error"),
    ("status", "status"),
    ("seconds", "seconds"),
    ("candidate_id", "candidate_id"),
)


@cli.command()
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    help="Best-ranked candidates to validate [dft.top_k].",
)
@click.option(
    "--code",
    type=click.Choice(["gpaw", "vasp"]),
    default=None,
    help="gpaw: compute here; vasp: build atomate2 VASP workflows [dft.code].",
)
@click.option(
    "--workflow",
    "workflow_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="VASP: write the FireWorks workflow here (YAML or JSON by suffix; "
    "default <home>/dft/vasp-workflow-<hash>.yaml).",
)
@click.option("--submit", is_flag=True, help="VASP: add the workflow to the LaunchPad.")
@click.option(
    "--collect",
    is_flag=True,
    help="VASP: read finished statics from the job store into dft_tasks.",
)
@click.option(
    "--resubmit", is_flag=True, help="VASP: plan submitted, unfinished tasks again."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def validate(
    ctx: click.Context,
    top: int | None,
    code: str | None,
    workflow_path: str | None,
    submit: bool,
    collect: bool,
    resubmit: bool,
    as_json: bool,
) -> None:
    """Validate the top candidates with DFT; the table gains E_form DFT.

    GPAW runs here (MPI, dft.mpi_processes) and the candidates are updated at
    once; a candidate validated with the same settings is not computed again.
    VASP builds atomate2's MP workflows for FireWorks; --collect reads them
    back when they are done.
    """
    from matforge.flows.dft import dft_params

    settings = _settings(ctx)
    params = dft_params(settings, code)
    if params.code == "vasp":
        _validate_vasp(ctx, top, workflow_path, submit, collect, resubmit, as_json)
        return
    if workflow_path or submit or collect or resubmit:
        raise MatforgeError("--workflow, --submit, --collect and --resubmit are VASP's")
    from matforge.flows.dft import validate_candidates

    def say(line: str) -> None:
        click.echo(f"computing {line}", err=True)

    with _factory(ctx) as factory:
        summary = validate_candidates(factory, top=top, code="gpaw", progress=say)
    if as_json:
        _echo_json(summary.as_dict())
    elif not summary.rows:
        click.echo("no candidates; run `matforge build candidates` first?")
    else:
        cells = []
        for row in summary.as_dict()["rows"]:
            cell = {head: _cell(row.get(f), False) for head, f in VALIDATION_COLUMNS}
            cell["seconds"] = f"{row['seconds']:.0f}"
            cells.append(cell)
        click.echo(
            f"DFT validation with GPAW (settings {summary.settings_hash}) in "
            f"{summary.seconds:.0f} s"
        )
        click.echo(_table(cells, [head for head, _ in VALIDATION_COLUMNS]))
        for row in summary.rows:
            if row.error:
                click.echo(f"  {row.formula}: {row.error.splitlines()[0]}")
        click.echo("the candidates table shows them: `matforge candidates`")
    if summary.rows and summary.failed == len(summary.rows):
        raise SystemExit(1)


def _validate_vasp(
    ctx: click.Context,
    top: int | None,
    workflow_path: str | None,
    submit: bool,
    collect: bool,
    resubmit: bool,
    as_json: bool,
) -> None:
    from pathlib import Path

    from matforge.flows.dft import collect_vasp_results, plan_vasp_validation

    with _factory(ctx) as factory:
        if collect:
            docs = collect_vasp_results(factory)
            payload: dict[str, Any] = {
                "collected": [
                    {
                        "task_id": d.task_id,
                        "purpose": d.purpose,
                        "formula": d.formula,
                        "state": d.state,
                        "formation_energy_per_atom": d.formation_energy_per_atom,
                    }
                    for d in docs
                ]
            }
            if as_json:
                _echo_json(payload)
            else:
                click.echo(f"collected {len(docs)} finished VASP tasks")
                for d in docs:
                    click.echo(f"  {d.purpose} {d.formula}: {d.state}")
            return
        plan = plan_vasp_validation(factory, top=top, resubmit=resubmit)
        workflow = plan.workflow()
        payload = plan.as_dict()
        if workflow is not None:
            path = Path(
                workflow_path
                or factory.settings.home_dir
                / "dft"
                / f"vasp-workflow-{plan.settings_hash}.yaml"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            workflow.to_file(str(path))
            payload["workflow"] = str(path)
            payload["fireworks"] = len(workflow.fws)
            if submit:
                from fireworks import LaunchPad

                LaunchPad.auto_load().add_wf(workflow)
                payload["submitted_to_launchpad"] = True
    if as_json:
        _echo_json(payload)
        return
    if workflow is None:
        click.echo(
            f"nothing to submit: {len(plan.cached)} tasks done, the others "
            "submitted before (--resubmit plans them again, --collect reads results)"
        )
        return
    click.echo(
        f"VASP workflow: {len(plan.flows)} structures, {payload['fireworks']} "
        f"fireworks (MP GGA double relaxation + static) -> {payload['workflow']}"
    )
    for task in plan.tasks:
        click.echo(f"  {task.purpose} {task.formula} ({task.task_id})")
    if submit:
        click.echo("added to the LaunchPad")
    else:
        click.echo(f"submit with: lpad add {payload['workflow']}")
    click.echo("then: matforge validate --code vasp --collect")


def main() -> None:
    """Run the command line."""
    cli(prog_name="matforge")


if __name__ == "__main__":
    main()
