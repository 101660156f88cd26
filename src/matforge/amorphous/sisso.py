"""SISSO-style sparse descriptors: screening (SIS) and an exhaustive L0 search.

1. A bounded feature space from the primary features: each primary x and its
   unary transforms 1/x, x^2, sqrt(x), log(x) (where defined), and the
   products and ratios of pairs of primaries.
2. Sure independence screening: the ``sis_size`` features most correlated with
   the current residual join the subspace.
3. L0: every combination of ``d`` features of the subspace is fitted by least
   squares (with intercept); the lowest RMSE wins, and its residual drives the
   next screening. Steps 2-3 repeat for d = 1 .. ``max_terms``.

The authors report the RMSE of the least-squares fit on every row of the table
(0.397 for 1/kT, LNC, Li% and 0.365 for 1/kT, LNC, LLB, PF reproduce exactly
so); :func:`fit_terms` refits chosen terms on any rows to score them held out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
_CHUNK = 200_000


@dataclass(frozen=True)
class FeatureSpace:
    """Candidate features: expressions and their values on the rows."""

    names: tuple[str, ...]
    values: FloatArray  # (rows, features)


def _wrap(name: str) -> str:
    return name if name.isidentifier() else f"({name})"


def build_feature_space(
    primaries: FloatArray, names: Sequence[str], binary: bool = True
) -> FeatureSpace:
    """Return the primaries, their unary transforms and pairwise products/ratios.

    Parameters
    ----------
    primaries
        Primary features, (rows, primaries).
    names
        Their names (used in the expressions).
    binary
        Include products and ratios of pairs of primaries.

    Returns
    -------
    FeatureSpace
        Finite, non-constant features only; about p(5 + 1.5 (p - 1)) of them
        for p primaries.
    """
    x = np.asarray(primaries, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValueError(
            f"primaries have shape {x.shape} but {len(names)} names were given"
        )
    out_names: list[str] = []
    columns: list[FloatArray] = []

    def add(name: str, value: FloatArray) -> None:
        if np.all(np.isfinite(value)) and np.std(value) > 1e-12 * (
            1 + np.abs(value).max()
        ):
            out_names.append(name)
            columns.append(value)

    with np.errstate(all="ignore"):
        for j, name in enumerate(names):
            v, w = x[:, j], _wrap(name)
            add(name, v)
            if np.all(v != 0):
                add(f"1/{w}", 1.0 / v)
            add(f"{w}^2", v**2)
            if np.all(v >= 0):
                add(f"sqrt({name})", np.sqrt(v))
            if np.all(v > 0):
                add(f"log({name})", np.log(v))
        if binary:
            for i, j in itertools.combinations(range(len(names)), 2):
                a, b = x[:, i], x[:, j]
                wi, wj = _wrap(names[i]), _wrap(names[j])
                add(f"{wi}*{wj}", a * b)
                if np.all(b != 0):
                    add(f"{wi}/{wj}", a / b)
                if np.all(a != 0):
                    add(f"{wj}/{wi}", b / a)
    return FeatureSpace(tuple(out_names), np.column_stack(columns))


@dataclass(frozen=True)
class SparseModel:
    """ln D (or any target) = intercept + sum coef_i * term_i."""

    terms: tuple[str, ...]
    intercept: float
    coefficients: tuple[float, ...]
    rmse: float
    """RMSE on the rows it was fitted on."""

    @property
    def formula(self) -> str:
        """The model as one line, e.g. ``y = 2.25 - 0.339*(1/kT) + ...``."""
        text = f"{self.intercept:.4g}"
        for coef, term in zip(self.coefficients, self.terms, strict=True):
            sign = "-" if coef < 0 else "+"
            text += f" {sign} {abs(coef):.4g}*{_wrap(term)}"
        return text

    def predict(self, space: FeatureSpace) -> FloatArray:
        """Evaluate on the rows of a feature space holding the terms."""
        index = [space.names.index(t) for t in self.terms]
        return self.intercept + space.values[:, index] @ np.asarray(self.coefficients)


def fit_terms(values: FloatArray, y: FloatArray, terms: Sequence[str]) -> SparseModel:
    """Least-squares fit (with intercept) of y on given columns."""
    design = np.column_stack([np.ones(len(y)), values])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    rmse = float(np.sqrt(np.mean((y - design @ coef) ** 2)))
    return SparseModel(tuple(terms), float(coef[0]), tuple(map(float, coef[1:])), rmse)


def _best_combination(z: FloatArray, y: FloatArray, d: int) -> tuple[int, ...]:
    """Exhaustive L0: the d columns of standardised z with the least RSS."""
    yc = y - y.mean()
    gram = z.T @ z
    cross = z.T @ yc
    ridge = 1e-10 * len(y)
    best, best_gain = (), -math.inf
    combos = itertools.combinations(range(z.shape[1]), d)
    while chunk := list(itertools.islice(combos, _CHUNK)):
        idx = np.asarray(chunk)
        g = gram[idx[:, :, None], idx[:, None, :]] + ridge * np.eye(d)
        c = cross[idx]
        gain = np.einsum("ij,ij->i", c, np.linalg.solve(g, c[:, :, None])[:, :, 0])
        k = int(np.argmax(gain))
        if gain[k] > best_gain:
            best, best_gain = tuple(int(i) for i in idx[k]), float(gain[k])
    return best


def sisso(
    space: FeatureSpace, y: FloatArray, max_terms: int = 4, sis_size: int = 20
) -> list[SparseModel]:
    """Return the best model with 1, 2, ..., ``max_terms`` terms.

    Parameters
    ----------
    space
        Candidate features (:func:`build_feature_space`).
    y
        Target (e.g. ln D).
    max_terms
        Largest number of terms (the subspace holds ``max_terms * sis_size``
        features; 4 x 20 = 80 gives 1.6 million 4-term fits).
    sis_size
        Features added to the subspace per dimension.

    Returns
    -------
    list[SparseModel]
        One model per dimension, fitted on all rows given.
    """
    y = np.asarray(y, dtype=float)
    values = space.values
    mean, std = values.mean(axis=0), values.std(axis=0)
    z = (values - mean) / std / np.sqrt(len(y))
    residual = y - y.mean()
    subspace: list[int] = []
    models = []
    for d in range(1, max_terms + 1):
        score = np.abs(z.T @ residual)
        score[subspace] = -1.0
        added = 0
        for j in np.argsort(-score):
            if added == sis_size or score[j] <= 0:
                break
            if subspace and np.max(np.abs(z[:, subspace].T @ z[:, j])) > 0.9999:
                continue  # a duplicate of a feature already screened
            subspace.append(int(j))
            added += 1
        picked = [subspace[i] for i in _best_combination(z[:, subspace], y, d)]
        model = fit_terms(values[:, picked], y, [space.names[i] for i in picked])
        models.append(model)
        residual = y - model.predict(space)
        residual = residual - residual.mean()
    return models
