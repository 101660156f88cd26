"""The amorphous Li-conductor campaign's report: models and MD, Markdown and HTML.

Read from the store alone: the table (``amorphous_diffusivity``), the models
of the last training (every amorphous model when there was none) with their
held-out parity points and feature importances, and the melt-quench MD
summaries with D(T) and their Arrhenius fits. The files go to a folder and
their bytes to the data store under ``report/amorphous/``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matforge.errors import DataNotFoundError
from matforge.report.build import (
    _STYLE,
    ReportResult,
    _html_table,
    _markdown_table,
    save_report_files,
)
from matforge.report.plots import _note, _png
from matforge.report.table import cell
from matforge.schemas.amorphous import TABLE_D_FACTOR
from matforge.schemas.common import utcnow
from matforge.stores.amorphous import (
    TABLE,
    amorphous_models,
    last_training,
    md_runs,
    table_entries,
)

if TYPE_CHECKING:
    from matforge.stores import StoreFactory

AUTHORS = (
    "Authors' figures (85/15 split, seed 62): random forest R^2 0.955, MAE 0.084, "
    "RMSE 0.120, 5-fold CV RMSE 0.141; XGBoost R^2 0.971, MAE 0.070, RMSE 0.096, "
    "CV RMSE 0.123 (D in 1e-3 cm^2/s); SISSO for ln D, RMSE on all rows 0.397 with "
    "3 terms (1/kT, LNC, Li %), 0.365 with 4 (1/kT, LNC, LLB, PF)."
)

_KIND = {"random_forest": "random forest", "xgboost": "XGBoost", "sisso": "SISSO"}
_UNIT = {"D": "D (1e-3 cm$^2$/s)", "lnD": "ln D (D in 1e-3 cm$^2$/s)"}
_CAPTIONS = {
    "amorphous_parity.png": "Held-out parity: AIMD value against model prediction",
    "amorphous_importances.png": "Feature importances (top 10 of each model)",
    "amorphous_arrhenius.png": "Surrogate MD: Li D(T) and Arrhenius fits, with the "
    "table's AIMD values (open markers)",
}
_MAX_PANELS = 12


def _grid(n: int, width: float = 3.6, height: float = 3.3) -> tuple[Any, list[Any]]:
    import matplotlib as mpl

    mpl.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), dpi=110, squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _label(doc: dict[str, Any]) -> str:
    kind = _KIND.get(doc["kind"], doc["kind"])
    if doc["kind"] == "sisso":
        terms = len(doc.get("features") or [])
        return f"SISSO, {terms} term{'' if terms == 1 else 's'}"
    return f"{kind}, {doc['target']}"


def parity_plot(models: Sequence[dict[str, Any]]) -> bytes:
    """Return one held-out parity panel per model (true against predicted)."""
    shown = [m for m in models if m.get("parity")][:_MAX_PANELS]
    if not shown:
        fig, axes = _grid(1)
        _note(axes[0], "no held-out points stored")
        return _png(fig)
    fig, axes = _grid(len(shown))
    for ax, doc in zip(axes, shown, strict=True):
        true, pred = doc["parity"]["true"], doc["parity"]["pred"]
        ax.scatter(true, pred, s=10, alpha=0.6)
        low, high = min(*true, *pred), max(*true, *pred)
        ax.plot([low, high], [low, high], color="grey", lw=1)
        metrics = doc["metrics"]
        ax.set_title(
            f"{_label(doc)}\nR$^2$ {metrics['test_r2']:.3f}, "
            f"RMSE {metrics['test_rmse']:.3f} (n={len(true)})",
            fontsize=9,
        )
        ax.set_xlabel(f"AIMD {_UNIT[doc['target']]}", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
    return _png(fig)


def importance_plot(models: Sequence[dict[str, Any]], top: int = 10) -> bytes:
    """Return the ``top`` feature importances of each model as bars."""
    shown = [m for m in models if m.get("feature_importances")][:_MAX_PANELS]
    if not shown:
        fig, axes = _grid(1)
        _note(axes[0], "no feature importances stored")
        return _png(fig)
    fig, axes = _grid(len(shown), width=4.2)
    for ax, doc in zip(axes, shown, strict=True):
        ranked = sorted(doc["feature_importances"].items(), key=lambda kv: -kv[1])
        names, values = zip(*ranked[:top], strict=True)
        ax.barh(list(names), list(values), color="tab:blue")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(_label(doc), fontsize=9)
        ax.set_xlabel("importance (share)", fontsize=8)
    return _png(fig)


def arrhenius_plot(
    runs: Sequence[dict[str, Any]], table: dict[str, list[dict[str, Any]]]
) -> bytes:
    """Return ln D against 1000/T of each MD run, its fit and the table's points.

    Parameters
    ----------
    runs
        MD documents (``amorphous_md``).
    table
        The table's documents of each run's formula.
    """
    import numpy as np

    fig, axes = _grid(1, width=6.4, height=4.4)
    ax = axes[0]
    for index, doc in enumerate(runs):
        colour = f"C{index % 10}"
        fits = [f for f in doc["fits"] if f["diffusivity_cm2_s"] > 0]
        label = f"{doc['formula']} ({doc['potential']}, {doc['n_atoms']} atoms)"
        if fits:
            inv = [  # at the temperature the atoms had, as the fit is
                1000.0 / (f.get("mean_temperature") or f["temperature"]) for f in fits
            ]
            d = np.array([f["diffusivity_cm2_s"] for f in fits])
            err = np.array([f["diffusivity_std_cm2_s"] for f in fits]) / d
            ax.errorbar(
                inv,
                np.log10(d),
                yerr=err / math.log(10),
                fmt="o",
                color=colour,
                label=label,
                capsize=3,
            )
        fit = doc.get("arrhenius")
        if fit:
            temps = np.array(fit["temperatures"], dtype=float)
            grid = np.linspace(temps.min(), temps.max(), 20)
            k_b = 8.617333262e-5
            line = np.log10(fit["d0_cm2_s"]) - fit["ea_ev"] / (k_b * grid) / math.log(
                10
            )
            ax.plot(1000.0 / grid, line, color=colour, lw=1)
            ax.annotate(
                f"Ea {fit['ea_ev']:.2f}±{fit['ea_std_ev']:.2f} eV",
                (1000.0 / grid[-1], line[-1]),
                fontsize=7,
                color=colour,
            )
        aimd = table.get(doc["formula"], [])
        if aimd:
            ax.scatter(
                [1000.0 / r["temperature"] for r in aimd],
                [math.log10(r["diffusivity_cm2_s"]) for r in aimd],
                facecolors="none",
                edgecolors=colour,
                marker="s",
            )
    if not runs:
        _note(ax, "no MD runs stored")
        return _png(fig)
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("log10 D (cm$^2$/s)")
    ax.set_title("Li diffusivity, surrogate melt-quench MD")
    ax.legend(fontsize=7)
    return _png(fig)


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 else f"{value:.{digits}f}"
    return cell(value)


def model_rows(models: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Return the models table: scores on the authors' split and by CV."""
    rows = []
    for doc in models:
        m = doc["metrics"]
        rows.append(
            {
                "model": doc["model_id"],
                "kind": _KIND.get(doc["kind"], doc["kind"]),
                "target": doc["target"],
                "R2": _fmt(m["test_r2"]),
                "MAE": _fmt(m["test_mae"]),
                "RMSE": _fmt(m["test_rmse"]),
                "CV random": _fmt(m.get("cv_random_rmse")),
                "CV grouped": _fmt(m.get("cv_grouped_rmse")),
                "formula": doc.get("formula") or "-",
            }
        )
    return rows


def md_rows(
    runs: Sequence[dict[str, Any]], table: dict[str, list[dict[str, Any]]]
) -> list[dict[str, str]]:
    """Return one row per MD temperature: D with its error beside the table's."""
    rows = []
    for doc in runs:
        aimd = {
            float(r["temperature"]): r["diffusivity_cm2_s"]
            for r in table.get(doc["formula"], [])
        }
        fit = doc.get("arrhenius") or {}
        for f in doc["fits"]:
            ref = aimd.get(float(f["temperature"]))
            rows.append(
                {
                    "formula": doc["formula"],
                    "potential": doc["potential"],
                    "atoms": str(doc["n_atoms"]),
                    "T (K)": f"{f['temperature']:g}",
                    "<T> (K)": "-"
                    if f.get("mean_temperature") is None
                    else f"{f['mean_temperature']:.0f}",
                    "D (cm2/s)": f"{f['diffusivity_cm2_s']:.3g} ± "
                    f"{f['diffusivity_std_cm2_s']:.2g}",
                    "fit (ps)": f"{f['fit_start_ps']:.2f}-{f['fit_end_ps']:.2f}",
                    "AIMD D": "-" if ref is None else f"{ref:.3g}",
                    "ratio": "-" if not ref else f"{f['diffusivity_cm2_s'] / ref:.2f}",
                    "Ea (eV)": "-"
                    if not fit
                    else f"{fit['ea_ev']:.2f} ± {fit['ea_std_ev']:.2f}",
                }
            )
    return rows


def _models(factory: StoreFactory) -> list[dict[str, Any]]:
    everything = amorphous_models(factory)
    record = last_training(factory)
    if not record:
        return everything
    by_id = {d["model_id"]: d for d in everything}
    return [by_id[i] for i in record.get("model_ids", []) if i in by_id]


def write_amorphous_report(factory: StoreFactory, out_dir: str | Path) -> ReportResult:
    """Write ``amorphous_report.md``, ``amorphous_report.html`` and their PNGs.

    Parameters
    ----------
    factory
        The store factory.
    out_dir
        Folder to write into (created).

    Returns
    -------
    ReportResult
        The files written and their keys in the data store.

    Raises
    ------
    DataNotFoundError
        If there is no model and no MD run to report.
    """
    models = _models(factory)
    runs = md_runs(factory)
    if not models and not runs:
        raise DataNotFoundError(
            "nothing to report: run `matforge amorphous train` or "
            "`matforge amorphous simulate` first"
        )
    table = {doc["formula"]: table_entries(factory, doc["formula"]) for doc in runs}
    n_rows = factory.store(TABLE).count()
    figures = {"amorphous_parity.png": parity_plot(models)}
    figures["amorphous_importances.png"] = importance_plot(models)
    if runs:
        figures["amorphous_arrhenius.png"] = arrhenius_plot(runs, table)
    title = "matforge: Li diffusivity in amorphous solids"
    made = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        f"Made {made} from {factory.location}: {n_rows} table rows, "
        f"{len(models)} models, {len(runs)} MD runs. D is in cm^2/s; the models "
        f"predict it in the table's unit ({TABLE_D_FACTOR:g} cm^2/s)."
    )
    m_cols = ["model", "kind", "target", "R2", "MAE", "RMSE", "CV random"]
    m_cols += ["CV grouped", "formula"]
    d_cols = ["formula", "potential", "atoms", "T (K)", "<T> (K)", "D (cm2/s)"]
    d_cols += ["fit (ps)", "AIMD D", "ratio", "Ea (eV)"]
    m_rows, d_rows = model_rows(models), md_rows(runs, table)
    scores = (
        "Held-out scores on the authors' 85/15 split and mean fold RMSE of 5-fold "
        "CV (random, and grouped by composition), in the target's unit."
    )
    md = [f"# {title}", "", intro, "", "## Models", "", scores, ""]
    md += _markdown_table(m_rows, m_cols) if m_rows else ["No models."]
    md += ["", AUTHORS, "", "## Surrogate melt-quench MD", ""]
    md += _markdown_table(d_rows, d_cols) if d_rows else ["No MD runs."]
    md += ["", "## Figures", ""]
    page = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        "<h2>Models</h2>",
        f"<p>{html.escape(scores)}</p>",
        _html_table(m_rows, m_cols) if m_rows else "<p>No models.</p>",
        f"<p>{html.escape(AUTHORS)}</p>",
        "<h2>Surrogate melt-quench MD</h2>",
        _html_table(d_rows, d_cols) if d_rows else "<p>No MD runs.</p>",
        "<h2>Figures</h2>",
    ]
    return save_report_files(
        factory,
        out_dir,
        "amorphous_report",
        (md, page),
        figures,
        _CAPTIONS,
        "report/amorphous",
        campaign="amorphous",
    )
