"""Design matrices of the diffusivity table: inputs, targets, groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matforge.schemas.amorphous import DESCRIPTOR_NAMES

FEATURES: tuple[str, ...] = ("temperature", *DESCRIPTOR_NAMES)
"""Model inputs in the table's column order: temperature, then 42 descriptors."""


@dataclass(frozen=True)
class Dataset:
    """Rows of the table as arrays, in the order given."""

    x: NDArray[np.float64]
    """Inputs, (rows, len(features))."""
    d: NDArray[np.float64]
    """D in the table's unit (1e-3 cm^2/s)."""
    groups: NDArray[np.str_]
    """Reduced formula of each row (the unit of grouped CV)."""
    ids: list[str]
    """Entry id of each row."""
    features: tuple[str, ...] = FEATURES

    @property
    def ln_d(self) -> NDArray[np.float64]:
        """Return ln D (D in the table's unit)."""
        return np.log(self.d)

    def target(self, name: str) -> NDArray[np.float64]:
        """Return the target ``D`` or ``lnD``."""
        if name == "D":
            return self.d
        if name == "lnD":
            return self.ln_d
        raise ValueError(f"unknown target {name!r}; known: D, lnD")

    def column(self, name: str) -> NDArray[np.float64]:
        """Return one input column by name."""
        return self.x[:, self.features.index(name)]


def _get(record: Any, key: str) -> Any:
    return record[key] if isinstance(record, Mapping) else getattr(record, key)


def dataset(records: Sequence[Any]) -> Dataset:
    """Build the arrays of diffusivity records (documents or their dicts).

    Parameters
    ----------
    records
        :class:`~matforge.schemas.amorphous.AmorphousDiffusivityDoc` s or their
        ``model_dump()``; keep them in table row order to reproduce the
        authors' split.

    Returns
    -------
    Dataset
        Inputs, D, groups and ids.
    """
    if not records:
        raise ValueError("no diffusivity records to build a data set from")
    rows = []
    for record in records:
        descriptors = _get(record, "descriptors")
        missing = [name for name in DESCRIPTOR_NAMES if name not in descriptors]
        if missing:
            raise ValueError(
                f"record {_get(record, 'entry_id')} lacks descriptors {missing}"
            )
        rows.append(
            [float(_get(record, "temperature"))]
            + [float(descriptors[name]) for name in DESCRIPTOR_NAMES]
        )
    return Dataset(
        x=np.asarray(rows, dtype=float),
        d=np.asarray([_get(r, "table_value") for r in records], dtype=float),
        groups=np.asarray([_get(r, "reduced_formula") for r in records]),
        ids=[_get(r, "entry_id") for r in records],
    )
