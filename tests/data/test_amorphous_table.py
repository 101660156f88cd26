"""The amorphous diffusivity table reader: documents, units, rejects."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from matforge.data.amorphous import (
    COLUMNS,
    TABLE_FILE,
    known_formula_checker,
    lookalike_formulas,
    read_shared_table,
    read_table,
)
from matforge.errors import DataNotFoundError
from matforge.schemas.amorphous import DESCRIPTOR_DESCRIPTIONS, DESCRIPTOR_NAMES


def _header() -> str:
    return " ".join(f'"{c}"' if " " in c else c for c in COLUMNS)


def _row(index: int, formula: str, d: str, t: str, li: float) -> str:
    values = ["1.0"] * len(DESCRIPTOR_NAMES)
    values[DESCRIPTOR_NAMES.index("Li_percentage")] = str(li)
    return " ".join([str(index), formula, d, t, *values])


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rows = [
        _row(0, "Li2O", "0.25", "1500", 2 / 3),  # good
        _row(1, "Li2O", "0.49", "2000", 2 / 3),  # good
        _row(2, "Li3N", "-0.1", "1000", 0.75),  # negative D
        _row(3, "Li3N", "nan", "1500", 0.75),  # NaN
        _row(4, "Li3N", "abc", "2000", 0.75),  # non-numeric
        _row(5, "Li2Xq", "0.3", "1000", 0.5),  # unparsable formula
        _row(6, "NaCl", "0.3", "1000", 0.5),  # no Li
        _row(7, "Li2O", "0.25", "1500", 2 / 3),  # exact duplicate of row 1
        _row(8, "Li2O", "0.30", "1500", 2 / 3),  # same composition and T as row 1
        _row(9, "Li3N", "0.40", "2500", 0.5),  # Li_percentage of another formula
        _row(10, "Li3N", "0.40", "2500", 0.75).rsplit(" ", 1)[0],  # a column short
        _row(11, "Li3N", "0.0", "1000", 0.75),  # zero D
        _row(12, "Li3N", "0.2", "hot", 0.75),  # non-numeric temperature
    ]
    path = tmp_path / "feature_target.dat"
    path.write_text("\n".join([_header(), *rows]) + "\n")
    return path


def test_good_rows_become_documents_in_cm2_per_s(table: Path) -> None:
    read = read_table(table)
    assert [d.entry_id for d in read.docs] == [
        "amorph-Li2O-1500K",
        "amorph-Li2O-2000K",
    ]
    doc = read.docs[0]
    assert doc.diffusivity_cm2_s == pytest.approx(0.25e-3)
    assert doc.ln_diffusivity == pytest.approx(math.log(0.25))
    assert doc.li_fraction == pytest.approx(2 / 3)
    assert set(doc.descriptors) == set(DESCRIPTOR_NAMES)
    assert doc.origin == "feature_target.dat:row 1"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (3, "negative D"),
        (4, "NaN or infinite diff_coeff_mul_thousand=nan"),
        (5, "non-numeric diff_coeff_mul_thousand='abc'"),
        (6, "formula 'Li2Xq' has unknown element symbols ['Xq']"),
        (7, "formula 'NaCl' has no Li"),
        (8, "duplicate: identical to row 1"),
        (9, "duplicate: same composition and temperature as row 1"),
        (10, "Li_percentage 0.5000 disagrees with the Li fraction 0.7500"),
        (11, "45 columns, the header has 46"),
        (12, "zero D"),
        (13, "non-numeric temperature='hot'"),
    ],
)
def test_bad_rows_are_rejected_with_their_reason(
    table: Path, row: int, reason: str
) -> None:
    read = read_table(table)
    by_input = {r.input: r.reason for r in read.rejects}
    assert reason in by_input[f"feature_target.dat:row {row}"]
    assert read.rows == 13


def test_wrong_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.dat"
    path.write_text("formula D T\nLi2O 1 2\n")
    with pytest.raises(DataNotFoundError, match="unexpected header"):
        read_table(path)
    with pytest.raises(DataNotFoundError, match="no diffusivity table"):
        read_table(tmp_path / "missing.dat")


def test_lookalike_readings() -> None:
    assert lookalike_formulas("Li2Si2Os") == ["Li2Si2O5"]
    assert lookalike_formulas("LiAlO2") == []  # 'A1' is no element
    assert lookalike_formulas("Li4Os") == ["Li4O5"]


def test_every_descriptor_has_a_description() -> None:
    assert len(DESCRIPTOR_NAMES) == 42
    assert all(DESCRIPTOR_DESCRIPTIONS[name] for name in DESCRIPTOR_NAMES)


def test_the_shared_table(shared_data: Path) -> None:
    read = read_shared_table(shared_data)
    assert read.rows == 792
    assert len(read.docs) == 789
    assert len({d.reduced_formula for d in read.docs}) == 206
    rejected = {r.input: r.reason for r in read.rejects}
    assert set(rejected) == {f"feature_target.dat:row {i}" for i in (1, 2, 3)}
    assert all("transcription of Li2Si2O5" in r for r in rejected.values())
    # Li8SnSb reads as the charge-balanced Li8SnS6, which is not a known
    # composition: kept
    assert any(d.formula == "Li8SnSb" for d in read.docs)
    d = [x.diffusivity_cm2_s for x in read.docs]
    assert 1e-6 < min(d) < max(d) < 1e-2


def test_without_a_reference_the_transcription_check_is_skipped(
    shared_data: Path,
) -> None:
    read = read_table(shared_data / TABLE_FILE)
    assert len(read.docs) == 792
    assert not read.rejects


def test_known_formula_checker(shared_data: Path) -> None:
    is_known = known_formula_checker(shared_data / "mp_formation_energies.csv.gz")
    assert is_known("Li2Si2O5")
    assert is_known("Si2Li2O5")
    assert not is_known("Li2Si2Os")
