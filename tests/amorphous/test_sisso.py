"""The SISSO-style search recovers a planted formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matforge.amorphous.sisso import build_feature_space, fit_terms, sisso


def test_planted_three_term_formula_is_found() -> None:
    rng = np.random.default_rng(7)
    names = ["a", "b", "c", "d", "e", "f"]
    x = rng.uniform(0.5, 3.0, size=(300, len(names)))
    y = 1.0 + 2.0 * x[:, 0] * x[:, 1] - 1.5 * np.sqrt(x[:, 2]) + 0.8 / x[:, 3]
    y = y + rng.normal(0.0, 0.01, size=len(y))
    space = build_feature_space(x, names)
    models = sisso(space, y, max_terms=3, sis_size=20)
    assert [len(m.terms) for m in models] == [1, 2, 3]
    best = models[-1]
    assert set(best.terms) == {"a*b", "sqrt(c)", "1/d"}
    coef = dict(zip(best.terms, best.coefficients, strict=True))
    assert coef["a*b"] == pytest.approx(2.0, abs=0.01)
    assert coef["sqrt(c)"] == pytest.approx(-1.5, abs=0.02)
    assert best.rmse < 0.02
    assert models[0].rmse > models[1].rmse > best.rmse
    np.testing.assert_allclose(best.predict(space), y, atol=0.1)


def test_feature_space_skips_undefined_transforms() -> None:
    x = np.array([[1.0, -1.0], [2.0, 0.5], [3.0, 2.0]])
    space = build_feature_space(x, ["p", "q"])
    assert "sqrt(p)" in space.names
    assert "sqrt(q)" not in space.names
    assert "log(q)" not in space.names
    assert np.all(np.isfinite(space.values))


def test_fit_terms_is_least_squares() -> None:
    x = np.linspace(0, 1, 50)
    model = fit_terms(x[:, None], 3.0 - 2.0 * x, ["x"])
    assert model.intercept == pytest.approx(3.0)
    assert model.coefficients[0] == pytest.approx(-2.0)
    assert model.formula == "3 - 2*x"


def test_authors_descriptors_reproduce_their_rmse(shared_data: Path) -> None:
    from matforge.amorphous.descriptors import refit_authors
    from matforge.amorphous.features import dataset
    from matforge.data.amorphous import TABLE_FILE, read_table

    data = dataset(read_table(shared_data / TABLE_FILE).docs)
    refit = refit_authors(data)
    assert refit[3]["rmse_all"] == pytest.approx(0.397, abs=0.0005)
    assert refit[4]["rmse_all"] == pytest.approx(0.365, abs=0.0005)
    assert refit[3]["rmse_held_out"] > 0
