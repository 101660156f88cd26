"""Predict D with a stored model: forest arrays, XGBoost JSON or a SISSO formula."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matforge.amorphous.arrhenius import inverse_kt
from matforge.amorphous.boost import booster_from_json
from matforge.amorphous.features import Dataset
from matforge.amorphous.forest import ForestPredictor
from matforge.schemas.amorphous import DESCRIPTOR_NAMES

FloatArray = NDArray[np.float64]
_NAME = r"(?:\(1/kT\)|[A-Za-z_][A-Za-z0-9_]*)"
_UNARY = {
    "sqrt": np.sqrt,
    "log": np.log,
}


def primary_columns(data: Dataset) -> dict[str, FloatArray]:
    """Return the SISSO primaries of a data set: ``1/kT`` (1/eV), descriptors."""
    columns = {"1/kT": np.asarray(inverse_kt(data.column("temperature")))}
    columns.update({name: data.column(name) for name in DESCRIPTOR_NAMES})
    return columns


def _primary(token: str, columns: Mapping[str, FloatArray]) -> FloatArray:
    name = token[1:-1] if token.startswith("(") else token
    if name not in columns:
        raise ValueError(f"unknown primary feature {name!r} in a SISSO term")
    return columns[name]


def evaluate_term(term: str, columns: Mapping[str, FloatArray]) -> FloatArray:
    """Evaluate one term of :func:`~matforge.amorphous.sisso.build_feature_space`.

    The forms are ``x``, ``1/x``, ``x^2``, ``sqrt(x)``, ``log(x)``, ``x*y`` and
    ``x/y``, a name with an operator in it written in parentheses.
    """
    with np.errstate(all="ignore"):
        if re.fullmatch(_NAME, term) or term in columns:
            return _primary(term, columns)
        if m := re.fullmatch(rf"1/({_NAME})", term):
            return 1.0 / _primary(m[1], columns)
        if m := re.fullmatch(rf"({_NAME})\^2", term):
            return _primary(m[1], columns) ** 2
        if m := re.fullmatch(r"(sqrt|log)\((.+)\)", term):
            return _UNARY[m[1]](_primary(m[2], columns))
        if m := re.fullmatch(rf"({_NAME})([*/])({_NAME})", term):
            a, b = _primary(m[1], columns), _primary(m[3], columns)
            return a * b if m[2] == "*" else a / b
    raise ValueError(f"cannot read the SISSO term {term!r}")


def term_columns(terms: Sequence[str], data: Dataset) -> dict[str, FloatArray]:
    """Return the values of SISSO terms on the rows of a data set."""
    columns = primary_columns(data)
    return {term: evaluate_term(term, columns) for term in terms}


def model_predictor(
    doc: Mapping[str, Any], weights: bytes | None
) -> Callable[[Dataset], FloatArray]:
    """Return ``predict(data) -> D`` (the table's unit) for a model document.

    Parameters
    ----------
    doc
        An :class:`~matforge.schemas.amorphous.AmorphousModelDoc` as a dict.
    weights
        Its weights from the data store (None for SISSO).

    Returns
    -------
    Callable
        Predicts D in 1e-3 cm^2/s (exp of the prediction for ln D models).
    """
    kind, target = doc["kind"], doc["target"]
    back = np.exp if target == "lnD" else (lambda v: v)
    if kind == "sisso":
        coefficients, intercept = doc["coefficients"], doc["intercept"]

        def sisso(data: Dataset) -> FloatArray:
            values = term_columns(list(coefficients), data)
            ln_d = intercept + sum(c * values[t] for t, c in coefficients.items())
            return np.exp(ln_d)

        return sisso
    if weights is None:
        raise ValueError(f"model {doc['model_id']} has no weights")
    if kind == "random_forest":
        raw = ForestPredictor.from_bytes(weights).predict
    elif kind == "xgboost":
        raw = booster_from_json(weights).predict
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    features = tuple(doc["features"])

    def predict(data: Dataset) -> FloatArray:
        if tuple(data.features) != features:
            raise ValueError("the data set's columns are not the model's inputs")
        return back(np.asarray(raw(data.x), dtype=float))

    return predict
