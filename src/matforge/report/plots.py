"""The report's figures, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

_RATE_METRICS = (
    "structural_validity",
    "compositional_validity",
    "validity",
    "uniqueness",
    "novelty",
    "cov_r",
    "cov_p",
    "recon_match_rate",
)


def _figure(width: float = 6.4, height: float = 4.2, ncols: int = 1) -> Any:
    import matplotlib as mpl

    mpl.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), dpi=110)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _note(ax: Any, text: str) -> None:
    ax.text(
        0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11
    )
    ax.set_xticks([])
    ax.set_yticks([])


def score_distribution(dataset: Sequence[float], candidates: Sequence[float]) -> bytes:
    """Return histograms of the storage score: known hydrides vs candidates.

    Parameters
    ----------
    dataset
        Storage scores of the hydrides collection.
    candidates
        Storage scores of the campaign's ranked candidates.
    """
    import numpy as np

    fig, ax = _figure()
    values = [*dataset, *candidates]
    if not values:
        _note(ax, "no storage scores")
        return _png(fig)
    bins = np.linspace(min(values), max(values) + 1e-9, 30)
    if dataset:
        ax.hist(
            dataset,
            bins=bins,
            density=True,
            alpha=0.55,
            label=f"dataset (n={len(dataset)})",
        )
    if candidates:
        ax.hist(
            candidates,
            bins=bins,
            density=True,
            alpha=0.55,
            label=f"candidates (n={len(candidates)})",
        )
    ax.set_xlabel("Hydrogen Storage Score")
    ax.set_ylabel("density")
    ax.set_title("Storage score: known hydrides vs generated candidates")
    ax.legend()
    return _png(fig)


def generator_metrics(
    history: Sequence[dict[str, Any]], metrics: dict[str, Any]
) -> bytes:
    """Return the training curves and the generation metrics of the generator.

    Parameters
    ----------
    history
        One row per epoch (``train_loss``, ``val_loss``, ``epoch``).
    metrics
        The metrics table stored on the model (rates between 0 and 1 are shown).
    """
    fig, (left, right) = _figure(10, 4.2, ncols=2)
    if history:
        epochs = [row.get("epoch", i) + 1 for i, row in enumerate(history)]
        for key in ("train_loss", "val_loss"):
            values = [row.get(key) for row in history]
            if any(v is not None for v in values):
                left.plot(epochs, values, marker="o", label=key.replace("_", " "))
        left.set_xlabel("epoch")
        left.set_ylabel("loss")
        left.set_title("Generator training")
        left.legend()
    else:
        _note(left, "no training history")
    rates = {
        k: float(metrics[k])
        for k in _RATE_METRICS
        if isinstance(metrics.get(k), int | float) and not math.isnan(metrics[k])
    }
    if rates:
        names = list(rates)
        right.barh(names, [rates[n] for n in names], color="tab:green")
        right.set_xlim(0, 1)
        right.invert_yaxis()
        for y, name in enumerate(names):
            right.text(rates[name] + 0.01, y, f"{rates[name]:.2f}", va="center")
        right.set_title("Generation metrics")
    else:
        _note(right, "no metrics stored")
    return _png(fig)


def eform_parity(
    predicted: Sequence[float], dft: Sequence[float | None], labels: Sequence[str]
) -> bytes:
    """Return the E_form parity plot: ML potential vs DFT where DFT is known.

    Without any DFT value the potential's distribution is shown instead.

    Parameters
    ----------
    predicted
        Formation energies from the potential, eV/atom.
    dft
        The DFT formation energies (None where not computed), eV/atom.
    labels
        Formulas, to annotate the DFT points.
    """
    fig, ax = _figure(5.6, 5.0)
    pairs = [
        (p, d, label)
        for p, d, label in zip(predicted, dft, labels, strict=True)
        if p is not None and d is not None
    ]
    if pairs:
        xs = [p for p, _, _ in pairs]
        ys = [d for _, d, _ in pairs]
        low, high = min(xs + ys) - 0.05, max(xs + ys) + 0.05
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
        ax.scatter(xs, ys, color="tab:blue")
        for x, y, label in pairs:
            ax.annotate(
                label, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points"
            )
        mae = sum(abs(x - y) for x, y in zip(xs, ys, strict=True)) / len(xs)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_xlabel("E_form, ML potential (eV/atom)")
        ax.set_ylabel("E_form, DFT (eV/atom)")
        ax.set_title(f"E_form parity (n={len(xs)}, MAE {mae:.3f} eV/atom)")
        return _png(fig)
    values = [p for p in predicted if p is not None]
    if not values:
        _note(ax, "no formation energies")
        return _png(fig)
    ax.hist(values, bins=20, color="tab:orange", alpha=0.8)
    ax.set_xlabel("E_form, ML potential (eV/atom)")
    ax.set_ylabel("candidates")
    ax.set_title("E_form of the candidates (no DFT results yet)")
    return _png(fig)


def score_vs_hull(
    candidates: Sequence[dict[str, Any]],
    known: Sequence[dict[str, Any]],
    stable_tolerance: float,
    threshold: float = 0.1,
) -> bytes:
    """Return storage score against e_above_hull: candidates and known hydrides.

    The picture researchers choose from: up and left is better. Known hydrides
    of the candidates' chemical systems (the Materials Project's competing
    phases that hold H and a metal) stand beside the candidates.

    Parameters
    ----------
    candidates
        Ranked candidates (``e_above_hull``, ``storage_score``, ``is_novel``,
        ``reduced_formula``).
    known
        Known hydrides (``e_above_hull``, ``storage_score``, ``formula``).
    stable_tolerance
        The stable flag's tolerance, eV/atom (a dotted line).
    threshold
        The S.U.N. stability threshold, eV/atom (a dashed line).
    """
    fig, ax = _figure(7.0, 4.6)

    def points(rows: Sequence[dict[str, Any]]) -> list[tuple[float, float, Any]]:
        out = []
        for row in rows:
            x, y = row.get("e_above_hull"), row.get("storage_score")
            numbers = isinstance(x, int | float) and isinstance(y, int | float)
            if numbers and math.isfinite(x) and math.isfinite(y):
                out.append((float(x), float(y), row))
        return out

    cands, refs = points(candidates), points(known)
    if not cands and not refs:
        _note(ax, "no candidates with a hull distance and a score")
        return _png(fig)
    if refs:
        ax.scatter(
            [p[0] for p in refs],
            [p[1] for p in refs],
            marker="x",
            color="0.55",
            label=f"known hydrides of these systems ({len(refs)})",
        )
    novel = [p for p in cands if p[2].get("is_novel")]
    known_c = [p for p in cands if not p[2].get("is_novel")]
    for group, colour, name in (
        (novel, "tab:red", "novel candidates"),
        (known_c, "tab:blue", "known-structure candidates"),
    ):
        if group:
            ax.scatter(
                [p[0] for p in group],
                [p[1] for p in group],
                color=colour,
                alpha=0.8,
                label=f"{name} ({len(group)})",
            )
    best = sorted(cands, key=lambda p: -p[1])[:8]
    for x, y, row in best:
        ax.annotate(
            row.get("reduced_formula", ""),
            (x, y),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.axvline(stable_tolerance, color="0.3", linestyle=":", linewidth=1)
    ax.axvline(threshold, color="0.3", linestyle="--", linewidth=1)
    ax.set_xlabel("energy above the MP hull (eV/atom)")
    ax.set_ylabel("Hydrogen Storage Score")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(
        f"dotted: stable ({stable_tolerance:g}); dashed: S.U.N. threshold "
        f"({threshold:g} eV/atom)",
        fontsize=9,
    )
    return _png(fig)
