"""Feature tables for causal discovery: read, check, encode, clean.

A :class:`RawTable` holds named columns as read (numbers, text, ``None`` for
missing). :func:`prepare_table` turns it into the numeric matrix FCI runs on,
or explains in one sentence why it cannot:

- a missing target, text in a column not declared categorical, missing values
  (unless a policy drops them) and too few rows are errors;
- categorical columns are encoded: known orders as ranks (crystal system by
  rising lattice symmetry), two levels as 0/1, more as one-hot indicators
  against the most frequent level;
- constant and collinear columns are dropped with a reason, so the partial
  correlations of the Fisher-z test stay defined.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from matforge.errors import DataNotFoundError, MatforgeError
from matforge.schemas.causal import ColumnInfo, Dropped
from matforge.schemas.features import HydrideFeatures

MIN_ROWS = 5
"""Fewest rows a table may have (Fisher-z needs n - |conditioning set| - 3 > 0)."""

ORDINAL_LEVELS: dict[str, tuple[str, ...]] = {
    "crystal_system": (
        "triclinic",
        "monoclinic",
        "orthorhombic",
        "tetragonal",
        "trigonal",
        "hexagonal",
        "cubic",
    ),
}
"""Categorical columns with a natural order, encoded as the rank in it (the
crystal systems by the order of their lattice point groups)."""

HYDRIDE_CATEGORICAL = frozenset({"crystal_system"})
"""Hydride features that are categorical."""

_MISSING_TOKENS = frozenset({"", "na", "nan", "null", "none", "n/a", "-"})
_SHOWN = 5

MissingPolicy = Literal["error", "drop_columns", "drop_rows"]


class TableError(MatforgeError):
    """A table that causal discovery cannot use, with the reason."""


@dataclass(frozen=True)
class RawTable:
    """Named columns as read: floats, text or ``None`` (missing).

    Parameters
    ----------
    columns
        Column name to values, every column as long as ``row_ids``.
    row_ids
        An id per row (material ids, or row numbers of a file).
    categorical
        Columns whose values are categories, not quantities.
    source
        Where the table comes from (``collection:hydrides``, ``csv:PATH``).
    newest_input
        Latest ``last_updated`` of the input documents, when known.
    """

    columns: dict[str, list[Any]]
    row_ids: list[str]
    categorical: frozenset[str] = frozenset()
    source: str = "table"
    newest_input: datetime | None = None

    def __post_init__(self) -> None:
        for name, values in self.columns.items():
            if len(values) != len(self.row_ids):
                raise TableError(
                    f"column {name!r} has {len(values)} values for "
                    f"{len(self.row_ids)} rows"
                )


@dataclass(frozen=True)
class PreparedTable:
    """A numeric table ready for FCI, with what was encoded and dropped."""

    data: np.ndarray
    nodes: list[str]
    target: str
    row_ids: list[str]
    columns: list[ColumnInfo]
    dropped_columns: list[Dropped] = field(default_factory=list)
    dropped_rows: list[Dropped] = field(default_factory=list)
    n_rows_read: int = 0
    source: str = "table"
    newest_input: datetime | None = None

    @property
    def table_hash(self) -> str:
        """SHA-1 of the node names and the values."""
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update("\x1f".join(self.nodes).encode())
        digest.update(np.ascontiguousarray(self.data, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def feature_of(self, node: str) -> str:
        """Return the table column a node comes from."""
        for info in self.columns:
            if info.name == node:
                return info.feature
        raise KeyError(node)

    def to_csv(self) -> str:
        """Return the encoded table as CSV text (first column: the row id)."""
        lines = [",".join(["row_id", *self.nodes])]
        for row_id, row in zip(self.row_ids, self.data, strict=True):
            lines.append(",".join([row_id, *(repr(float(x)) for x in row)]))
        return "\n".join(lines) + "\n"


# -- reading ---------------------------------------------------------------------
def _cell(text: str) -> float | str | None:
    text = text.strip()
    if text.lower() in _MISSING_TOKENS:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def read_csv_table(
    path: str | Path,
    categorical: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> RawTable:
    """Read a CSV (or, by its ``.tsv`` suffix, tab-separated) table with a header.

    Parameters
    ----------
    path
        The file.
    categorical
        Columns to treat as categories.
    ignore
        Columns to leave out (ids, formulas, ...).

    Returns
    -------
    RawTable
        Numbers as floats, text as text, empty and ``NaN`` cells as ``None``.

    Raises
    ------
    DataNotFoundError
        If the file does not exist.
    TableError
        If it is empty, has a repeated or empty column name, or a ragged row.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"table {path} does not exist")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"cannot read {path} as CSV: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise TableError(f"{path} is empty")
    header = [name.strip() for name in rows[0]]
    if any(not name for name in header):
        raise TableError(
            f"{path}: column {header.index('') + 1} has no name; every column needs "
            "a header"
        )
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if repeated:
        raise TableError(f"{path}: repeated column names {', '.join(repeated)}")
    unknown = sorted({*categorical, *ignore} - set(header))
    if unknown:
        raise TableError(
            f"{path} has no column {', '.join(map(repr, unknown))} "
            f"(columns: {', '.join(header)})"
        )
    body = rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TableError(
                f"{path}, line {number}: {len(row)} fields for {len(header)} columns"
            )
    skip = set(ignore)
    columns = {
        name: [_cell(row[i]) for row in body]
        for i, name in enumerate(header)
        if name not in skip
    }
    return RawTable(
        columns=columns,
        row_ids=[str(i) for i in range(1, len(body) + 1)],
        categorical=frozenset(categorical),
        source=f"csv:{path}",
    )


def hydride_table(
    docs: Iterable[Mapping[str, Any]], exclude: Iterable[str] = ()
) -> RawTable:
    """Build the feature table of hydride documents.

    Parameters
    ----------
    docs
        Hydride documents (dicts with ``material_id``, ``features`` and, when
        known, ``last_updated``).
    exclude
        Features to leave out.

    Returns
    -------
    RawTable
        One column per :class:`~matforge.schemas.features.HydrideFeatures`
        field (``crystal_system`` categorical), one row per document.
    """
    skip = set(exclude)
    names = [n for n in HydrideFeatures.model_fields if n not in skip]
    columns: dict[str, list[Any]] = {n: [] for n in names}
    row_ids: list[str] = []
    newest: datetime | None = None
    for doc in docs:
        features = doc.get("features") or {}
        row_ids.append(str(doc["material_id"]))
        for name in names:
            value = features.get(name)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            columns[name].append(value)
        stamp = doc.get("last_updated")
        if isinstance(stamp, datetime) and (newest is None or stamp > newest):
            newest = stamp
    return RawTable(
        columns=columns,
        row_ids=row_ids,
        categorical=HYDRIDE_CATEGORICAL & set(names),
        source="collection:hydrides",
        newest_input=newest,
    )


# -- checking --------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _rows_text(rows: Sequence[int], row_ids: Sequence[str]) -> str:
    shown = ", ".join(row_ids[i] for i in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return f"{shown}{more}"


def _text_columns(raw: RawTable) -> list[str]:
    problems = []
    for name, values in raw.columns.items():
        if name in raw.categorical:
            continue
        for i, value in enumerate(values):
            if isinstance(value, str):
                problems.append(f"{name!r} ({value!r} in row {raw.row_ids[i]})")
                break
    return problems


def _drop_missing(
    raw: RawTable,
    target: str,
    missing: MissingPolicy,
    drop_missing_target: bool,
) -> tuple[dict[str, list[Any]], list[str], list[Dropped], list[Dropped]]:
    columns = dict(raw.columns)
    keep = list(range(len(raw.row_ids)))
    dropped_rows: list[Dropped] = []
    dropped_cols: list[Dropped] = []
    no_target = [i for i in keep if _is_missing(columns[target][i])]
    if no_target and drop_missing_target:
        dropped_rows.append(
            Dropped(
                name=f"{len(no_target)} rows",
                reason=f"no {target} (e.g. {_rows_text(no_target, raw.row_ids)})",
            )
        )
        gone = set(no_target)
        keep = [i for i in keep if i not in gone]
    holes = {
        name: [i for i in keep if _is_missing(values[i])]
        for name, values in columns.items()
    }
    holes = {name: rows for name, rows in holes.items() if rows}
    if not holes:
        pass
    elif missing == "error" or target in holes:
        text = "; ".join(
            f"{name!r} in {len(rows)} rows ({_rows_text(rows, raw.row_ids)})"
            for name, rows in holes.items()
        )
        raise TableError(
            f"missing values (empty or NaN): {text}; fill them or remove those "
            "rows or columns"
        )
    elif missing == "drop_columns":
        for name, rows in holes.items():
            del columns[name]
            dropped_cols.append(
                Dropped(name=name, reason=f"missing in {len(rows)} of {len(keep)} rows")
            )
    else:
        bad = sorted({i for rows in holes.values() for i in rows})
        dropped_rows.append(
            Dropped(
                name=f"{len(bad)} rows",
                reason=f"missing {', '.join(holes)} "
                f"(e.g. {_rows_text(bad, raw.row_ids)})",
            )
        )
        gone = set(bad)
        keep = [i for i in keep if i not in gone]
    columns = {name: [values[i] for i in keep] for name, values in columns.items()}
    row_ids = [raw.row_ids[i] for i in keep]
    return columns, row_ids, dropped_rows, dropped_cols


def _encode(
    name: str, values: list[Any], ordinal: Mapping[str, Sequence[str]]
) -> list[tuple[str, str, np.ndarray, dict[str, float]]]:
    """Encode a categorical column into ``(node, kind, values, levels)`` items."""
    labels = [v if isinstance(v, str) else f"{v:g}" for v in values]
    counts = Counter(labels)
    if len(counts) < 2:
        return []
    order = ordinal.get(name)
    if order is not None and set(counts) <= set(order):
        levels = {level: float(i) for i, level in enumerate(order)}
        column = np.array([levels[x] for x in labels])
        return [(name, "ordinal", column, levels)]
    if len(counts) <= 2:
        levels = {level: float(i) for i, level in enumerate(sorted(counts))}
        column = np.array([levels[x] for x in labels])
        return [(name, "binary", column, levels)]
    reference = sorted(counts, key=lambda level: (-counts[level], level))[0]
    items = []
    for level in sorted(counts):
        if level == reference:
            continue
        column = np.array([1.0 if x == level else 0.0 for x in labels])
        items.append(
            (f"{name}={level}", "onehot", column, {level: 1.0, reference: 0.0})
        )
    return items


def _r_squared(y: np.ndarray, x: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum(residual**2)) / total


def redundant_columns(
    data: np.ndarray, names: Sequence[str], r2_max: float = 0.9999
) -> dict[int, str]:
    """Find constant and collinear columns, keeping earlier columns first.

    Each column, in order, is dropped when it is constant or when the earlier
    kept columns explain it with an R^2 above ``r2_max``.

    Parameters
    ----------
    data
        Rows by columns.
    names
        Column names (for the reasons).
    r2_max
        Largest R^2 on the earlier columns a column may have.

    Returns
    -------
    dict[int, str]
        Index of every dropped column and the reason.
    """
    dropped: dict[int, str] = {}
    kept: list[int] = []
    for j in range(data.shape[1]):
        column = data[:, j]
        spread = float(np.ptp(column))
        if spread <= 1e-12 * max(1.0, float(np.max(np.abs(column)))):
            dropped[j] = f"constant (every row is {column[0]:g})"
            continue
        if kept:
            r2 = _r_squared(column, data[:, kept])
            if r2 > r2_max:
                corr = [abs(np.corrcoef(column, data[:, k])[0, 1]) for k in kept]
                best = int(np.argmax(corr))
                if corr[best] ** 2 > r2_max:
                    partner = names[kept[best]]
                    dropped[j] = f"collinear with {partner} (|r| = {corr[best]:.6f})"
                else:
                    dropped[j] = (
                        f"a linear combination of other columns (R^2 = {r2:.6f} "
                        f"on {data.shape[0]} rows)"
                    )
                continue
        kept.append(j)
    return dropped


def prepare_table(
    raw: RawTable,
    target: str,
    *,
    missing: MissingPolicy = "error",
    drop_missing_target: bool = False,
    exclude: Iterable[str] = (),
    tiers: Sequence[Sequence[str]] = (),
    collinearity_r2: float = 0.9999,
    ordinal: Mapping[str, Sequence[str]] = ORDINAL_LEVELS,
    min_rows: int = MIN_ROWS,
) -> PreparedTable:
    """Check, encode and clean a table for causal discovery.

    Parameters
    ----------
    raw
        The table as read.
    target
        The column whose causal neighbourhood is wanted; it must be numeric.
    missing
        ``error``: any missing value is an error; ``drop_columns``: features
        with missing values are dropped; ``drop_rows``: rows with missing
        values are dropped.
    drop_missing_target
        Drop rows without a target value (and say so) instead of failing.
    exclude
        Columns to leave out.
    tiers
        Background-knowledge tiers (column names, earliest first), recorded
        on the columns.
    collinearity_r2
        R^2 above which a column explained by earlier ones is dropped.
    ordinal
        Categorical columns with a natural order of their levels.
    min_rows
        Fewest rows accepted.

    Returns
    -------
    PreparedTable
        The target first, then the other columns in table order.

    Raises
    ------
    TableError
        With the reason, when the table cannot be used.
    """
    if target not in raw.columns:
        raise TableError(
            f"target column {target!r} is not in the table (columns: "
            f"{', '.join(raw.columns) or 'none'})"
        )
    if target in raw.categorical:
        raise TableError(f"target column {target!r} must be numeric, not categorical")
    skip = set(exclude) - {target}
    dropped_cols = [
        Dropped(name=name, reason="excluded by the settings")
        for name in raw.columns
        if name in skip
    ]
    raw = RawTable(
        columns={n: v for n, v in raw.columns.items() if n not in skip},
        row_ids=raw.row_ids,
        categorical=raw.categorical,
        source=raw.source,
        newest_input=raw.newest_input,
    )
    text = _text_columns(raw)
    if text:
        raise TableError(
            f"text in numeric columns: {', '.join(text)}; declare categorical "
            "columns as such (--categorical) or leave them out (--ignore)"
        )
    columns, row_ids, dropped_rows, more = _drop_missing(
        raw, target, missing, drop_missing_target
    )
    dropped_cols += more
    if len(row_ids) < min_rows:
        raise TableError(
            f"the table has {len(row_ids)} usable row"
            f"{'' if len(row_ids) == 1 else 's'}; causal discovery needs at least "
            f"{min_rows}"
        )
    # Encode, the target first.
    order = [target, *(name for name in columns if name != target)]
    tier_of = {name: i for i, tier in enumerate(tiers) for name in tier}
    nodes: list[str] = []
    features: list[str] = []
    kinds: list[str] = []
    level_maps: list[dict[str, float]] = []
    matrix: list[np.ndarray] = []
    for name in order:
        values = columns[name]
        if name in raw.categorical:
            items = _encode(name, values, ordinal)
            if not items:
                dropped_cols.append(
                    Dropped(name=name, reason=f"constant (every row is {values[0]!r})")
                )
        else:
            items = [(name, "numeric", np.asarray(values, dtype=float), {})]
        for node, kind, column, levels in items:
            nodes.append(node)
            features.append(name)
            kinds.append(kind)
            level_maps.append(levels)
            matrix.append(column)
    data = np.column_stack(matrix)
    redundant = redundant_columns(data, nodes, collinearity_r2)
    if 0 in redundant:
        raise TableError(f"target column {target!r} is {redundant[0]}")
    for j, reason in redundant.items():
        dropped_cols.append(Dropped(name=nodes[j], reason=reason))
    keep = [j for j in range(len(nodes)) if j not in redundant]
    if len(keep) < 2:
        reasons = "; ".join(f"{d.name}: {d.reason}" for d in dropped_cols) or "none"
        raise TableError(
            f"nothing to relate {target!r} to: no usable column is left "
            f"(dropped: {reasons})"
        )
    data = data[:, keep]
    infos = [
        ColumnInfo(
            name=nodes[j],
            feature=features[j],
            kind=kinds[j],
            levels=level_maps[j],
            tier=tier_of.get(features[j]),
            mean=float(data[:, i].mean()),
            std=float(data[:, i].std()),
            min=float(data[:, i].min()),
            max=float(data[:, i].max()),
        )
        for i, j in enumerate(keep)
    ]
    return PreparedTable(
        data=data,
        nodes=[nodes[j] for j in keep],
        target=target,
        row_ids=row_ids,
        columns=infos,
        dropped_columns=dropped_cols,
        dropped_rows=dropped_rows,
        n_rows_read=len(raw.row_ids),
        source=raw.source,
        newest_input=raw.newest_input,
    )
