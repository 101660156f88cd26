"""Gather a campaign's documents and write its report.

Everything is read from the store (stage records, hydrides, causal graph,
model, candidates), so ``matforge report`` can rebuild the report of any
campaign anywhere the database is reachable. The files are written to a
folder and their bytes kept in the data store under ``report/<run_id>/``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from matforge.errors import DataNotFoundError
from matforge.report import plots
from matforge.report.table import cell, table_rows
from matforge.schemas.common import utcnow
from matforge.stores.artefacts import get_json, put_bytes
from matforge.stores.causal import graph_png
from matforge.stores.models import training_history
from matforge.stores.queries import ranked_candidates, scan_documents
from matforge.stores.runs import known_hydrides_key, run_records, run_summary

if TYPE_CHECKING:
    from matforge.stores import StoreFactory

_CONTENT_TYPES = {
    ".png": "image/png",
    ".md": "text/markdown",
    ".html": "text/html",
}


@dataclass
class ReportResult:
    """What :func:`write_report` wrote."""

    files: list[Path] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)


def _stage_rows(factory: StoreFactory, run_id: str) -> list[dict[str, str]]:
    rows = []
    for stage in run_summary(factory, run_id, top=0)["stages"]:
        seconds = stage["seconds"]
        rows.append(
            {
                "stage": stage["stage"],
                "status": stage["status"],
                "count": cell(stage["count"]),
                "time (s)": "-" if seconds is None else f"{seconds:.1f}",
            }
        )
    return rows


def _figures(factory: StoreFactory, run_id: str) -> dict[str, bytes]:
    records = {r["stage"]: r for r in run_records(factory, run_id)}
    dataset = [
        d["storage_score"]
        for d in scan_documents(factory.store("hydrides"), ["storage_score"])
        if isinstance(d.get("storage_score"), int | float)
    ]
    mine = [
        d
        for d in scan_documents(
            factory.store("candidates"),
            [
                "run_id",
                "status",
                "storage_score",
                "formation_energy_per_atom",
                "formation_energy_dft_per_atom",
                "reduced_formula",
                "e_above_hull",
                "is_novel",
            ],
        )
        if d.get("run_id") == run_id and d.get("status") == "candidate"
    ]
    try:
        known = get_json(factory.data_store(), known_hydrides_key(run_id))
    except DataNotFoundError:
        known = []
    figures = {
        "score_distribution.png": plots.score_distribution(
            dataset,
            [d["storage_score"] for d in mine if d.get("storage_score") is not None],
        ),
        "eform_parity.png": plots.eform_parity(
            [d.get("formation_energy_per_atom") for d in mine],
            [d.get("formation_energy_dft_per_atom") for d in mine],
            [d.get("reduced_formula", "") for d in mine],
        ),
        "score_vs_hull.png": plots.score_vs_hull(
            mine, known, factory.settings.candidates.stable_e_above_hull
        ),
    }
    causal = records.get("causal", {}).get("output") or {}
    graph = graph_png(
        factory.store("causal_graphs"), factory.data_store(), causal.get("graph_id")
    )
    if graph is not None:
        figures["causal_graph.png"] = graph
    train = records.get("train", {}).get("output") or {}
    generate = records.get("generate", {}).get("output") or {}
    history = training_history(factory, train.get("model_id"))
    figures["generator_metrics.png"] = plots.generator_metrics(
        history, generate.get("metrics") or {}
    )
    return figures


def _sun_lines(sun: dict | None) -> list[str]:
    """Return the S.U.N. figures of a campaign as sentences."""
    if not sun:
        return ["Not computed for this campaign."]
    first = (
        f"{sun['total']} crystals generated, {sun['evaluated']} with an energy "
        f"above the Materials Project hull after relaxation, {sun['unique']} "
        f"unique, {sun['novel']} novel."
    )
    lines = [first]
    for t in sun["thresholds"]:
        lines.append(
            f"Within {t['threshold']:g} eV/atom of the hull: {t['stable']} stable, "
            f"{t['sun']} stable, unique and novel (S.U.N. rate "
            f"{100 * t['sun_rate']:.1f} %; {t['sun_new_formula']} of a formula no "
            "known material has)."
        )
    if sun.get("mean_rmsd") is not None:
        lines.append(
            f"Mean RMSD between generated and relaxed crystals: "
            f"{sun['mean_rmsd']:.3f} A over {sun['rmsd_count']} crystals."
        )
    lines.append(
        "MatterGen's protocol (stable within 0.1 eV/atom after relaxation); "
        "published S.U.N. rates on MP-20: CDVAE 14.0 %, MatterGen 38.6 %."
    )
    return lines


def _markdown_table(rows: list[dict[str, str]], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return lines


def _html_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row[c])}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}"
    "table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
    "img{max-width:100%}"
)

_CAPTIONS = {
    "score_vs_hull.png": (
        "Storage score against energy above the Materials Project hull: "
        "candidates and the known hydrides of their systems"
    ),
    "score_distribution.png": "Storage-score distribution, dataset vs candidates",
    "causal_graph.png": "Causal graph (FCI PAG) around the storage score",
    "generator_metrics.png": "Generator training and metrics",
    "eform_parity.png": "Formation energy: ML potential vs DFT",
}


def write_report(
    factory: StoreFactory, run_id: str, out_dir: str | Path, top: int = 10
) -> ReportResult:
    """Write ``report.md``, ``report.html`` and the PNGs of a campaign.

    Parameters
    ----------
    factory
        The store factory.
    run_id
        The campaign.
    out_dir
        Folder to write into (created).
    top
        Rows of the candidates table.

    Returns
    -------
    ReportResult
        The files written and their keys in the data store.

    Raises
    ------
    DataNotFoundError
        If the store holds no record of the campaign.
    """
    stages = _stage_rows(factory, run_id)
    if not stages:
        raise DataNotFoundError(f"no campaign {run_id!r} in the store")
    ranked = ranked_candidates(factory.store("candidates"), run_id=run_id, top=top)
    figures = _figures(factory, run_id)
    stage_cols = ["stage", "status", "count", "time (s)"]
    cand_cols, cand_rows = table_rows(ranked, report=True)
    title = f"matforge campaign {run_id}"
    made = utcnow().strftime("%Y-%m-%d %H:%M UTC")

    md = [f"# {title}", "", f"Made {made} from {factory.location}.", ""]
    md += ["## Stages", "", *_markdown_table(stages, stage_cols), ""]
    sun = _sun_lines(run_summary(factory, run_id, top=0).get("sun"))
    md += ["## Stability, uniqueness, novelty (S.U.N.)", "", *sun, ""]
    md += [f"## Top {top} candidates", ""]
    md += _markdown_table(cand_rows, cand_cols) if cand_rows else ["No candidates."]
    md.append("")
    html_parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Made {made} from {html.escape(factory.location)}.</p>",
        "<h2>Stages</h2>",
        _html_table(stages, stage_cols),
        "<h2>Stability, uniqueness, novelty (S.U.N.)</h2>",
        "".join(f"<p>{html.escape(line)}</p>" for line in sun),
        f"<h2>Top {top} candidates</h2>",
        _html_table(cand_rows, cand_cols) if cand_rows else "<p>No candidates.</p>",
        "<h2>Figures</h2>",
    ]
    md += ["## Figures", ""]
    return save_report_files(
        factory,
        out_dir,
        "report",
        (md, html_parts),
        figures,
        _CAPTIONS,
        f"report/{run_id}",
        run_id=run_id,
    )


def save_report_files(
    factory: StoreFactory,
    out_dir: str | Path,
    stem: str,
    pages: tuple[list[str], list[str]],
    figures: dict[str, bytes],
    captions: dict[str, str],
    key_prefix: str,
    **metadata: str,
) -> ReportResult:
    """Close a report's pages with its figures and write them to disk and store.

    Parameters
    ----------
    factory
        The store factory (its data store keeps a copy of every file).
    out_dir
        The folder the files are written to.
    stem
        The pages' file name: ``<stem>.md`` and ``<stem>.html``.
    pages
        The Markdown lines and the HTML parts so far (the HTML ``body`` open).
    figures
        PNG bytes by file name.
    captions
        Caption of each figure, in the order they are shown.
    key_prefix
        Data store keys are ``<key_prefix>/<file name>``.
    **metadata
        Stored with every file (``run_id=...``, ``campaign=...``).
    """
    md, page = pages
    for name, caption in captions.items():
        if name in figures:
            md += [f"### {caption}", "", f"![{caption}]({name})", ""]
            page.append(
                f"<h3>{html.escape(caption)}</h3><img src='{name}' "
                f"alt='{html.escape(caption)}'>"
            )
    page.append("</body></html>")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    payloads = {
        **figures,
        f"{stem}.md": "\n".join(md).encode(),
        f"{stem}.html": "\n".join(page).encode(),
    }
    result = ReportResult()
    data = factory.data_store()
    for name, payload in payloads.items():
        path = folder / name
        path.write_bytes(payload)
        result.files.append(path)
        key = put_bytes(
            data,
            f"{key_prefix}/{name}",
            payload,
            content_type=_CONTENT_TYPES[path.suffix],
            **metadata,
        )
        result.blobs.append(key)
    return result
