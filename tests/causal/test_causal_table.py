"""Tables for causal discovery: malformed ones give clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matforge.causal.table import (
    RawTable,
    TableError,
    hydride_table,
    prepare_table,
    read_csv_table,
    redundant_columns,
)
from matforge.errors import DataNotFoundError, MatforgeError


def _raw(**columns: list) -> RawTable:
    n = len(next(iter(columns.values())))
    return RawTable(columns, [str(i) for i in range(1, n + 1)])


def _csv(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


RNG = np.random.default_rng(0)
X = list(RNG.standard_normal(30))
Y = list(np.array(X) + RNG.standard_normal(30))
Z = list(RNG.standard_normal(30))


def test_errors_are_matforge_errors() -> None:
    assert issubclass(TableError, MatforgeError)


def test_missing_target_names_the_columns() -> None:
    with pytest.raises(TableError, match=r"target column 'score' is not in the table"):
        prepare_table(_raw(x=X, y=Y), "score")


def test_text_column_is_refused_with_an_example(tmp_path: Path) -> None:
    path = _csv(tmp_path, "formula,x,y\nMgH2,1,2\nTiH2,2,3\n")
    with pytest.raises(TableError, match=r"'formula' \('MgH2' in row 1\)"):
        prepare_table(read_csv_table(path), "y")


def test_nan_is_refused_with_the_rows(tmp_path: Path) -> None:
    rows = "\n".join(f"{a},{b}" for a, b in zip(X, Y, strict=True))
    path = _csv(tmp_path, f"x,y\n{rows}\n,1.0\nnan,2.0\n")
    with pytest.raises(TableError, match=r"missing values .*'x' in 2 rows \(31, 32\)"):
        prepare_table(read_csv_table(path), "y")


def test_single_row_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x,y\n1,2\n")
    with pytest.raises(TableError, match=r"1 usable row; .* at least 5"):
        prepare_table(read_csv_table(path), "y")


def test_constant_column_is_dropped_with_a_reason() -> None:
    table = prepare_table(_raw(y=Y, x=X, c=[3.0] * 30), "y")
    assert table.nodes == ["y", "x"]
    assert [(d.name, d.reason) for d in table.dropped_columns] == [
        ("c", "constant (every row is 3)")
    ]


def test_constant_target_is_an_error() -> None:
    with pytest.raises(TableError, match=r"target column 'y' is constant"):
        prepare_table(_raw(y=[1.0] * 30, x=X), "y")


def test_nothing_left_is_an_error() -> None:
    with pytest.raises(TableError, match=r"nothing to relate 'y' to.*c: constant"):
        prepare_table(_raw(y=Y, c=[0.0] * 30), "y")


def test_collinear_columns_are_dropped_with_their_partner() -> None:
    doubled = [2 * v + 1 for v in X]
    summed = [a + b for a, b in zip(X, Z, strict=True)]
    table = prepare_table(_raw(y=Y, x=X, x2=doubled, z=Z, s=summed), "y")
    assert table.nodes == ["y", "x", "z"]
    reasons = {d.name: d.reason for d in table.dropped_columns}
    assert reasons["x2"].startswith("collinear with x (|r| = 1.0")
    assert reasons["s"].startswith("a linear combination of other columns")


def test_redundant_columns_keeps_the_first_of_a_pair() -> None:
    data = np.c_[X, X]
    assert list(redundant_columns(data, ["a", "b"])) == [1]


def test_categorical_columns_are_encoded() -> None:
    systems = ["cubic", "hexagonal", "triclinic"] * 10
    colours = ["red", "green", "blue", "red", "red"] * 6
    flags = ["yes", "no"] * 15
    raw = RawTable(
        {"y": Y, "crystal_system": systems, "colour": colours, "flag": flags},
        [str(i) for i in range(30)],
        categorical=frozenset({"crystal_system", "colour", "flag"}),
    )
    table = prepare_table(raw, "y")
    assert table.nodes == ["y", "crystal_system", "colour=blue", "colour=green", "flag"]
    kinds = {c.name: c.kind for c in table.columns}
    assert kinds["crystal_system"] == "ordinal"
    assert kinds["colour=blue"] == "onehot"
    assert kinds["flag"] == "binary"
    assert table.data[:3, 1].tolist() == [6.0, 5.0, 0.0]
    assert table.feature_of("colour=green") == "colour"


def test_missing_target_rows_are_dropped_and_reported() -> None:
    raw = _raw(y=[None, *Y[1:]], x=X, gap=[None, None, *Z[2:]])
    table = prepare_table(raw, "y", drop_missing_target=True, missing="drop_columns")
    assert table.data.shape == (29, 2)
    assert table.dropped_rows[0].reason == "no y (e.g. 1)"
    assert table.dropped_columns[0].reason == "missing in 1 of 29 rows"
    rows = prepare_table(raw, "y", drop_missing_target=True, missing="drop_rows")
    assert rows.data.shape == (28, 3)


def test_csv_problems_are_explained(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        read_csv_table(tmp_path / "absent.csv")
    with pytest.raises(TableError, match="is empty"):
        read_csv_table(_csv(tmp_path, "\n"))
    with pytest.raises(TableError, match="repeated column names x"):
        read_csv_table(_csv(tmp_path, "x,x\n1,2\n"))
    with pytest.raises(TableError, match="line 3: 1 fields for 2 columns"):
        read_csv_table(_csv(tmp_path, "x,y\n1,2\n3\n"))
    with pytest.raises(TableError, match="no column 'w'"):
        read_csv_table(_csv(tmp_path, "x,y\n1,2\n"), ignore=["w"])


def test_csv_ignore_and_tab_separated(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id\tx\ty\na\t1\t2\nb\t3\t5\n", name="t.tsv")
    raw = read_csv_table(path, ignore=["id"])
    assert list(raw.columns) == ["x", "y"]
    assert raw.columns["y"] == [2.0, 5.0]
    assert raw.source == f"csv:{path}"


def test_hydride_table_reads_the_features() -> None:
    docs = [
        {
            "material_id": "mp-1",
            "features": {"h_weight_fraction": 0.1, "crystal_system": "cubic"},
        },
        {"material_id": "mp-2", "features": {"h_weight_fraction": float("nan")}},
    ]
    raw = hydride_table(docs, exclude=["spacegroup_number"])
    assert "spacegroup_number" not in raw.columns
    assert raw.columns["h_weight_fraction"] == [0.1, None]
    assert raw.categorical == frozenset({"crystal_system"})
    assert raw.row_ids == ["mp-1", "mp-2"]
