"""Error statistics and parity plot of ML against DFT formation energies (pure)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from pymatgen.core import Composition

from matforge.schemas.potential import CalibrationRow, CalibrationStats

FORMULAS_FILE = "mp_metal_hydride_formulas.txt"


def read_formula_energies(path: str | Path) -> dict[str, float]:
    """Read ``Composition_Formula Ef`` lines into reduced formula -> Ef (eV/atom).

    A formula listed twice keeps its lowest value (the ground state).
    """
    energies: dict[str, float] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            formula = Composition(parts[0]).reduced_formula
            value = float(parts[1])
        except (ValueError, KeyError):
            continue
        if math.isfinite(value):
            energies[formula] = min(value, energies.get(formula, math.inf))
    return energies


def calibration_stats(rows: Sequence[CalibrationRow], dataset: str) -> CalibrationStats:
    """Return MAE, RMSE, bias and largest error of some rows.

    Parameters
    ----------
    rows
        Rows of one dataset (or of all, for ``dataset="all"``).
    dataset
        The name recorded on the statistics.

    Returns
    -------
    CalibrationStats
        Statistics over the rows with an ML value; the others count as failed.
    """
    errors = [r.ml - r.dft for r in rows if r.ml is not None]
    failed = sum(r.ml is None for r in rows)
    if not errors:
        return CalibrationStats(dataset=dataset, n=0, failed=failed)
    n = len(errors)
    return CalibrationStats(
        dataset=dataset,
        n=n,
        failed=failed,
        mae=sum(abs(e) for e in errors) / n,
        rmse=math.sqrt(sum(e * e for e in errors) / n),
        mean_error=sum(errors) / n,
        max_abs_error=max(abs(e) for e in errors),
    )


def parity_plot(
    rows: Sequence[CalibrationRow], stats: Sequence[CalibrationStats], title: str
) -> bytes:
    """Return a PNG parity plot of ML against DFT formation energies."""
    import matplotlib as mpl

    mpl.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.0), dpi=120)
    ax = fig.add_subplot()
    by_name = {s.dataset: s for s in stats}
    markers = {"seed": "o", "mp_formulas": "s"}
    values: list[float] = []
    for dataset, marker in markers.items():
        points = [
            (r.dft, r.ml) for r in rows if r.dataset == dataset and r.ml is not None
        ]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        values += [*xs, *ys]
        stat = by_name.get(dataset)
        label = f"{dataset} (n={len(points)}"
        if stat is not None and stat.mae is not None:
            label += f", MAE {stat.mae:.3f}"
        ax.scatter(xs, ys, marker=marker, s=22, alpha=0.75, label=label + ")")
    if values:
        low, high = min(values) - 0.1, max(values) + 0.1
        ax.plot([low, high], [low, high], color="grey", linewidth=1)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
    ax.set_xlabel("DFT formation energy (eV/atom, MP2020)")
    ax.set_ylabel("ML formation energy (eV/atom)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
