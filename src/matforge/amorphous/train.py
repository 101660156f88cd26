"""Train and score the diffusivity models: random forest and XGBoost, D or ln D.

The protocol of the authors: fit on the 85 % train split of
:func:`~matforge.amorphous.evaluate.authors_split`, score on the 15 %; then
5-fold CV over all rows, random (shuffled KFold) and grouped by composition
(GroupKFold). The stored model is the one fitted on the train split, so its
scores describe exactly those weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from matforge.amorphous.boost import (
    XGB_DEFAULTS,
    booster_importances,
    booster_to_json,
    train_xgboost,
)
from matforge.amorphous.evaluate import (
    AUTHORS_SEED,
    Scores,
    authors_split,
    fold_rmse,
    out_of_fold,
)
from matforge.amorphous.features import Dataset
from matforge.amorphous.forest import (
    FOREST_DEFAULTS,
    ForestPredictor,
    forest_importances,
    train_forest,
)

Kind = Literal["random_forest", "xgboost"]
Target = Literal["D", "lnD"]
KINDS: tuple[Kind, ...] = ("random_forest", "xgboost")
TARGETS: tuple[Target, ...] = ("D", "lnD")


@dataclass
class TrainedModel:
    """A fitted model, its weights as bytes and its scores."""

    kind: Kind
    target: Target
    seed: int
    hyperparameters: dict[str, Any]
    weights: bytes
    """Forest arrays (npz) or XGBoost JSON."""
    test: Scores
    """Held-out scores in the target's unit."""
    test_in_d: Scores
    """Held-out scores in D (exp of the predictions for a ln D model)."""
    cv_random_rmse: float | None
    """Mean fold RMSE of random 5-fold CV, target unit."""
    cv_grouped_rmse: float | None
    """Mean fold RMSE of 5-fold CV grouped by composition, target unit."""
    cv_in_d: dict[str, float]
    """The two CV RMSEs in D (``random``, ``grouped``)."""
    importances: dict[str, float]
    n_train: int
    n_test: int
    parity: dict[str, list[float]]
    """Held-out truth and prediction in the target's unit (``true``, ``pred``)
    and the rows (``row``): the points of a parity plot."""
    predict: Callable[[NDArray[np.float64]], NDArray[np.float64]] = field(repr=False)
    """Predicts the target from inputs."""


def _fitter(
    kind: Kind, seed: int, n_jobs: int, params: dict[str, Any]
) -> Callable[[NDArray[np.float64], NDArray[np.float64]], Any]:
    def fit(x: NDArray[np.float64], y: NDArray[np.float64]) -> Any:
        if kind == "random_forest":
            return train_forest(x, y, seed, n_jobs=n_jobs, **params)
        if kind == "xgboost":
            return train_xgboost(x, y, seed, n_jobs=n_jobs, **params)
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")

    return fit


def train_model(
    data: Dataset,
    kind: Kind,
    target: Target = "D",
    seed: int = AUTHORS_SEED,
    cv: bool = True,
    n_jobs: int = 1,
    params: dict[str, Any] | None = None,
) -> TrainedModel:
    """Fit one model on the authors' split and score it.

    Parameters
    ----------
    data
        The table's rows in file order (:func:`~matforge.amorphous.features.dataset`).
    kind
        ``random_forest`` or ``xgboost``.
    target
        ``D`` (the table's unit, 1e-3 cm^2/s) or ``lnD``.
    seed
        Seed of the split, of the CV folds and of the model.
    cv
        Also run the random and grouped 5-fold CV (5 more fits each).
    n_jobs
        Threads of the model.
    params
        Overrides of the defaults (:data:`FOREST_DEFAULTS`, :data:`XGB_DEFAULTS`).

    Returns
    -------
    TrainedModel
        Weights, scores and importances.
    """
    defaults = FOREST_DEFAULTS if kind == "random_forest" else XGB_DEFAULTS
    hyper = {**defaults, **(params or {})}
    fit = _fitter(kind, seed, n_jobs, hyper)
    y = data.target(target)
    train, test = authors_split(len(y), seed)
    model = fit(data.x[train], y[train])
    if kind == "random_forest":
        predictor = ForestPredictor.from_model(model)
        weights, predict = predictor.to_bytes(), predictor.predict
        importance = forest_importances(model)
    else:
        weights, predict = booster_to_json(model), model.predict
        importance = booster_importances(model, len(data.features))
    pred = predict(data.x[test])
    to_d = np.exp if target == "lnD" else (lambda v: v)

    def fitted(x: NDArray[np.float64], yy: NDArray[np.float64]) -> Any:
        return fit(x, yy).predict

    random_rmse = grouped_rmse = None
    cv_in_d: dict[str, float] = {}
    if cv:
        for name, groups in (("random", None), ("grouped", data.groups)):
            oof, fold = out_of_fold(fitted, data.x, y, groups=groups, seed=seed)
            cv_in_d[name] = fold_rmse(y, oof, fold, np.exp if target == "lnD" else None)
            if name == "random":
                random_rmse = fold_rmse(y, oof, fold)
            else:
                grouped_rmse = fold_rmse(y, oof, fold)
    return TrainedModel(
        kind=kind,
        target=target,
        seed=seed,
        hyperparameters=hyper,
        weights=weights,
        test=Scores.of(y[test], pred),
        test_in_d=Scores.of(data.d[test], to_d(pred)),
        cv_random_rmse=random_rmse,
        cv_grouped_rmse=grouped_rmse,
        cv_in_d=cv_in_d,
        importances=dict(zip(data.features, map(float, importance), strict=True)),
        n_train=len(train),
        n_test=len(test),
        parity={
            "row": [int(i) for i in test],
            "true": [float(v) for v in y[test]],
            "pred": [float(v) for v in pred],
        },
        predict=predict,
    )
