"""Random forests for D, saved as the trees' arrays and rebuilt without sklearn.

A fitted :class:`sklearn.ensemble.RandomForestRegressor` is written as the
arrays of each tree (``children_left``, ``children_right``, ``feature``,
``threshold``, ``value``) in one ``.npz`` (read back with
``allow_pickle=False``); :class:`ForestPredictor` rebuilds the predictions
from those arrays alone, exactly as sklearn computes them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestRegressor

FOREST_DEFAULTS: dict[str, Any] = {"n_estimators": 100}
"""sklearn's defaults otherwise (they reproduce the authors' R^2 0.955)."""

_ARRAYS = ("children_left", "children_right", "feature", "threshold", "value")


def train_forest(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    seed: int,
    n_jobs: int = 1,
    **params: Any,
) -> RandomForestRegressor:
    """Fit a random forest regressor (sklearn), seeded."""
    model = RandomForestRegressor(
        **{**FOREST_DEFAULTS, **params}, random_state=seed, n_jobs=n_jobs
    )
    return model.fit(x, y)


@dataclass(frozen=True)
class Tree:
    """One regression tree as flat node arrays (leaves have children -1)."""

    children_left: NDArray[np.int64]
    children_right: NDArray[np.int64]
    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    value: NDArray[np.float64]

    def predict(self, x32: NDArray[np.float32]) -> NDArray[np.float64]:
        """Return the leaf value of each row (x already cast to float32)."""
        node = np.zeros(x32.shape[0], dtype=np.int64)
        rows = np.arange(x32.shape[0])
        while True:
            inner = self.children_left[node] != -1
            if not inner.any():
                return self.value[node]
            at = node[inner]
            go_left = x32[rows[inner], self.feature[at]] <= self.threshold[at]
            node[inner] = np.where(
                go_left, self.children_left[at], self.children_right[at]
            )


@dataclass(frozen=True)
class ForestPredictor:
    """A random forest rebuilt from its arrays: the mean of its trees."""

    trees: tuple[Tree, ...]
    n_features: int

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Predict like ``RandomForestRegressor.predict`` (float32 splits)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"expected {self.n_features} input columns, got shape {x.shape}"
            )
        x32 = x.astype(np.float32)
        total = np.zeros(x.shape[0])
        for tree in self.trees:
            total += tree.predict(x32)
        return total / len(self.trees)

    @classmethod
    def from_model(cls, model: RandomForestRegressor) -> ForestPredictor:
        """Take the arrays of a fitted sklearn forest."""
        trees = tuple(
            Tree(
                children_left=est.tree_.children_left.astype(np.int64),
                children_right=est.tree_.children_right.astype(np.int64),
                feature=est.tree_.feature.astype(np.int64),
                threshold=est.tree_.threshold.astype(np.float64),
                value=est.tree_.value[:, 0, 0].astype(np.float64),
            )
            for est in model.estimators_
        )
        return cls(trees=trees, n_features=int(model.n_features_in_))

    def to_bytes(self) -> bytes:
        """Serialise as ``.npz``: the trees' arrays and a JSON header."""
        arrays: dict[str, NDArray[Any]] = {}
        for i, tree in enumerate(self.trees):
            for name in _ARRAYS:
                arrays[f"t{i}_{name}"] = getattr(tree, name)
        header = {
            "format": "matforge-forest-1",
            "n_trees": len(self.trees),
            "n_features": self.n_features,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> ForestPredictor:
        """Rebuild from :meth:`to_bytes` (no pickles are read)."""
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes().decode())
            if header.get("format") != "matforge-forest-1":
                raise ValueError(f"not a matforge forest: {header.get('format')!r}")
            trees = tuple(
                Tree(**{name: data[f"t{i}_{name}"] for name in _ARRAYS})
                for i in range(header["n_trees"])
            )
        return cls(trees=trees, n_features=int(header["n_features"]))


def forest_importances(model: RandomForestRegressor) -> NDArray[np.float64]:
    """Impurity-based importances of a fitted forest (summing to 1)."""
    return np.asarray(model.feature_importances_, dtype=float)
