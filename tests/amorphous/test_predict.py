"""Stored models predict D: SISSO terms re-evaluated, forests from their arrays."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.amorphous.documents import model_document, sisso_document
from matforge.amorphous.features import Dataset
from matforge.amorphous.predict import (
    evaluate_term,
    model_predictor,
    primary_columns,
)
from matforge.amorphous.sisso import build_feature_space, sisso
from matforge.amorphous.train import train_model
from matforge.schemas.amorphous import DESCRIPTOR_NAMES


def _synthetic(rows: int = 120, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    temperature = rng.choice([1000.0, 1500.0, 2000.0, 2500.0], size=rows)
    x = np.column_stack(
        [temperature, rng.uniform(0.5, 3.0, size=(rows, len(DESCRIPTOR_NAMES)))]
    )
    lnd = 2.0 - 0.3 / (8.617e-5 * temperature) + 0.5 * x[:, 1] * x[:, 2]
    return Dataset(
        x=x,
        d=np.exp(lnd),
        groups=np.asarray([f"c{i // 4}" for i in range(rows)]),
        ids=[f"row{i}" for i in range(rows)],
    )


def test_terms_evaluate_like_the_feature_space() -> None:
    data = _synthetic()
    columns = primary_columns(data)
    space = build_feature_space(np.column_stack(list(columns.values())), list(columns))
    for j in range(0, len(space.names), 97):
        term = space.names[j]
        np.testing.assert_allclose(evaluate_term(term, columns), space.values[:, j])
    for term in ("(1/kT)^2", "log(1/kT)", "(1/kT)/AAV", "1/(1/kT)"):
        assert term in space.names
        j = space.names.index(term)
        np.testing.assert_allclose(evaluate_term(term, columns), space.values[:, j])
    with pytest.raises(ValueError, match="unknown primary"):
        evaluate_term("sqrt(nothing)", columns)


def test_sisso_document_predicts_d() -> None:
    data = _synthetic()
    columns = primary_columns(data)
    space = build_feature_space(np.column_stack(list(columns.values())), list(columns))
    model = sisso(space, data.ln_d, max_terms=2, sis_size=10)[-1]
    held = {
        "test_r2": 1.0,
        "test_mae": 0.0,
        "test_rmse": 0.0,
        "n_train": 1,
        "n_test": 1,
    }
    doc = sisso_document(model, data, held, {"max_terms": 2, "sis_size": 10})
    assert sum(doc.feature_importances.values()) == pytest.approx(1.0)
    predict = model_predictor(doc.model_dump(), None)
    np.testing.assert_allclose(predict(data), data.d, rtol=1e-6)


def test_forest_document_predicts_d() -> None:
    data = _synthetic()
    trained = train_model(
        data, "random_forest", "lnD", cv=False, params={"n_estimators": 10}
    )
    doc = model_document(trained, data).model_dump()
    predict = model_predictor(doc, trained.weights)
    np.testing.assert_allclose(predict(data), np.exp(trained.predict(data.x)))
    assert doc["model_id"].startswith("amorph-random_forest-lnD-")


def test_descriptor_search_scores_held_out() -> None:
    from matforge.amorphous.descriptors import search_descriptors

    data = _synthetic(160, seed=3)
    results = search_descriptors(data, max_terms=2, sis_size=20, grouped_cv=True)
    best = results[-1]
    assert set(best.model.terms) == {"1/kT", "AAV*LBI"}  # the planted ln D
    assert best.test_rmse < 1e-6
    assert best.n_train + best.n_test == 160
    assert best.cv_grouped_rmse is not None
    doc = sisso_document(best.model, data, best.metrics(), {"sis_size": 20})
    assert doc.metrics.n_test == best.n_test
