"""``matforge causal``: causal discovery (FCI) around the storage score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from matforge.cli.common import (
    echo_json,
    open_factory,
    progress_bar,
    settings_of,
    split_option,
)
from matforge.errors import MatforgeError

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


@click.command()
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
    from matforge.settings import CausalSettings

    settings = settings_of(ctx)
    wanted = {"target": target, "alpha": alpha, "test": test}
    wanted |= {"bootstrap": bootstrap, "seed": seed}
    overrides = {k: v for k, v in wanted.items() if v is not None}
    params = CausalSettings.model_validate(settings.causal.model_dump() | overrides)
    split = split_option(categorical)
    skip = split_option(ignore)
    if csv_path is None and (split or skip):
        raise MatforgeError("--categorical and --ignore apply to --from-csv tables")
    from matforge.flows.causal import analyse_csv, run_causal_stage

    with progress_bar(params.bootstrap or None, "bootstrap") as update:
        if csv_path is None:
            with open_factory(ctx) as factory:
                doc, blobs = run_causal_stage(
                    factory, params, artefacts=True, progress=update
                )
                where = f"stored in causal_graphs ({factory.location})"
        else:
            doc, blobs = analyse_csv(
                csv_path,
                params,
                categorical=split,
                ignore=skip,
                artefacts=plot_path is not None,
                progress=update,
            )
            where = "not stored (table from --from-csv)"
    if plot_path is not None:
        png = Path(plot_path)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(blobs["png"])
        png.with_suffix(".dot").write_bytes(blobs["dot"])
    if as_json:
        echo_json(doc.summary())
        return
    for line in _causal_text(doc):
        click.echo(line)
    click.echo(where)
    if plot_path is not None:
        click.echo(f"picture: {plot_path} (DOT: {Path(plot_path).with_suffix('.dot')})")
