"""Random forest and XGBoost: serialisation round trips and the training protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matforge.amorphous.boost import booster_from_json, booster_to_json, train_xgboost
from matforge.amorphous.evaluate import authors_split, fold_rmse, out_of_fold
from matforge.amorphous.features import FEATURES, dataset
from matforge.amorphous.forest import ForestPredictor, train_forest
from matforge.amorphous.train import train_model
from matforge.data.amorphous import TABLE_FILE, read_table


def _data(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * rng.normal(size=rows)
    return x, y


def test_forest_rebuilt_from_arrays_predicts_identically() -> None:
    x, y = _data()
    model = train_forest(x, y, seed=1, n_estimators=25)
    rebuilt = ForestPredictor.from_bytes(ForestPredictor.from_model(model).to_bytes())
    probe = np.vstack([x, _data(50, seed=9)[0]])
    np.testing.assert_allclose(rebuilt.predict(probe), model.predict(probe), atol=1e-12)
    assert len(rebuilt.trees) == 25
    with pytest.raises(ValueError, match="6 input columns"):
        rebuilt.predict(probe[:, :5])


def test_forest_bytes_hold_no_pickles() -> None:
    x, y = _data(80)
    payload = ForestPredictor.from_model(train_forest(x, y, 0, n_estimators=3))
    blob = payload.to_bytes()
    with np.load(__import__("io").BytesIO(blob), allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    with pytest.raises(ValueError, match="not a matforge forest"):
        ForestPredictor.from_bytes(_tampered(blob))


def _tampered(blob: bytes) -> bytes:
    import io
    import json

    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    header = json.dumps({"format": "other", "n_trees": 0, "n_features": 6})
    arrays["header"] = np.frombuffer(header.encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_xgboost_json_round_trip() -> None:
    x, y = _data()
    model = train_xgboost(x, y, seed=1, n_estimators=30)
    payload = booster_to_json(model)
    assert payload.lstrip().startswith(b"{")
    rebuilt = booster_from_json(payload)
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))


def test_grouped_folds_never_split_a_group() -> None:
    x, y = _data(120)
    groups = np.repeat(np.arange(30).astype(str), 4)

    def fit(xt: np.ndarray, yt: np.ndarray):
        return lambda xe: np.full(len(xe), yt.mean())

    pred, fold = out_of_fold(fit, x, y, groups=groups)
    for g in set(groups):
        assert len(set(fold[groups == g])) == 1
    assert fold_rmse(y, pred, fold) > 0
    train, test = authors_split(792)
    assert (len(train), len(test)) == (673, 119)


@pytest.mark.slow
def test_random_forest_on_the_authors_split(shared_data: Path) -> None:
    data = dataset(read_table(shared_data / TABLE_FILE).docs)
    assert data.x.shape == (792, len(FEATURES))
    trained = train_model(data, "random_forest", "D", cv=False, n_jobs=2)
    # sklearn's default forest on the authors' split: their 0.955 / 0.084 / 0.120
    assert trained.test.r2 == pytest.approx(0.955, abs=0.005)
    assert trained.test.mae == pytest.approx(0.084, abs=0.005)
    assert sum(trained.importances.values()) == pytest.approx(1.0)
    rebuilt = ForestPredictor.from_bytes(trained.weights)
    np.testing.assert_allclose(
        rebuilt.predict(data.x), trained.predict(data.x), atol=1e-12
    )
