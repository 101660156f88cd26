"""SISSO descriptors of ln D on the table, scored the authors' way and held out.

The authors' RMSE (0.397 for 1/kT, LNC, Li%; 0.365 for 1/kT, LNC, LLB, PF) is
that of the least-squares fit on all rows; here each dimension also gets the
RMSE of the search run on the authors' train split and scored on its test
split, and optionally of 5-fold CV grouped by composition (the search re-run
in every fold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matforge.amorphous.evaluate import authors_split, fold_rmse, out_of_fold
from matforge.amorphous.features import Dataset
from matforge.amorphous.predict import primary_columns
from matforge.amorphous.sisso import (
    FeatureSpace,
    SparseModel,
    build_feature_space,
    fit_terms,
    sisso,
)

AUTHORS_DESCRIPTORS: dict[int, tuple[tuple[str, ...], float]] = {
    3: (("1/kT", "LNC", "Li_percentage"), 0.397),
    4: (("1/kT", "LNC", "LLB", "PF"), 0.365),
}
"""The authors' SISSO descriptors of ln D and the RMSE they report."""


@dataclass(frozen=True)
class DescriptorResult:
    """One dimension: the model on all rows and its held-out scores."""

    model: SparseModel
    """Searched and fitted on all rows (RMSE as the authors report it)."""
    held_out: SparseModel
    """Searched and fitted on the train split."""
    test_rmse: float
    test_mae: float
    test_r2: float
    cv_grouped_rmse: float | None
    n_train: int
    n_test: int

    def metrics(self) -> dict[str, float | int | None]:
        """Return the held-out scores as ``ModelMetrics`` fields (ln D)."""
        return {
            "test_r2": self.test_r2,
            "test_mae": self.test_mae,
            "test_rmse": self.test_rmse,
            "cv_grouped_rmse": self.cv_grouped_rmse,
            "n_train": self.n_train,
            "n_test": self.n_test,
        }


def feature_space(data: Dataset) -> FeatureSpace:
    """Return the bounded candidate space over 1/kT and the 42 descriptors."""
    columns = primary_columns(data)
    return build_feature_space(np.column_stack(list(columns.values())), list(columns))


def _scores(model: SparseModel, space: FeatureSpace, y: np.ndarray) -> tuple:
    pred = model.predict(space)
    residual = pred - y
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return float(np.sqrt(np.mean(residual**2))), float(np.mean(np.abs(residual))), r2


def search_descriptors(
    data: Dataset,
    max_terms: int = 4,
    sis_size: int = 20,
    grouped_cv: bool = False,
) -> list[DescriptorResult]:
    """Run the SISSO search for ln D with 1 .. ``max_terms`` terms.

    Parameters
    ----------
    data
        The table's rows in file order.
    max_terms
        Largest number of terms.
    sis_size
        Features screened per dimension.
    grouped_cv
        Also score each dimension by 5-fold CV grouped by composition.

    Returns
    -------
    list[DescriptorResult]
        One per dimension.
    """
    space = feature_space(data)
    y = data.ln_d
    train, test = authors_split(len(y))
    models = sisso(space, y, max_terms, sis_size)
    train_space = FeatureSpace(space.names, space.values[train])
    test_space = FeatureSpace(space.names, space.values[test])
    held = sisso(train_space, y[train], max_terms, sis_size)
    results = []
    for d, (model, held_model) in enumerate(zip(models, held, strict=True), 1):
        rmse, mae, r2 = _scores(held_model, test_space, y[test])
        cv = None
        if grouped_cv:

            def fit(x: np.ndarray, yy: np.ndarray, d: int = d):
                found = sisso(FeatureSpace(space.names, x), yy, d, sis_size)[-1]
                return lambda xe: found.predict(FeatureSpace(space.names, xe))

            pred, fold = out_of_fold(fit, space.values, y, groups=data.groups)
            cv = fold_rmse(y, pred, fold)
        results.append(
            DescriptorResult(
                model, held_model, rmse, mae, r2, cv, len(train), len(test)
            )
        )
    return results


def refit_authors(data: Dataset) -> dict[int, dict[str, float | str]]:
    """Refit the authors' descriptors: RMSE on all rows and held out."""
    space = feature_space(data)
    y = data.ln_d
    train, test = authors_split(len(y))
    out: dict[int, dict[str, float | str]] = {}
    for d, (terms, reported) in AUTHORS_DESCRIPTORS.items():
        cols = [space.names.index(t) for t in terms]
        every = fit_terms(space.values[:, cols], y, terms)
        part = fit_terms(space.values[np.ix_(train, cols)], y[train], terms)
        rmse, _, _ = _scores(
            part, FeatureSpace(space.names, space.values[test]), y[test]
        )
        out[d] = {
            "formula": every.formula,
            "rmse_all": every.rmse,
            "rmse_held_out": rmse,
            "reported": reported,
        }
    return out
