"""The S.U.N. rate and the relaxation RMSD, on hand-made records and cells."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Lattice, Structure

from matforge.core.sun import (
    RMSD_CAP,
    SunRecord,
    first_of_groups,
    matched_rmsd,
    sun_rate,
)

RECORDS = [
    SunRecord("a", -0.05, unique=True, novel=True, same_ratio=False, rmsd=0.2),
    SunRecord("b", 0.0, unique=True, novel=True, same_ratio=True, rmsd=0.4),
    SunRecord("c", 0.1, unique=True, novel=True, rmsd=0.3),  # on the threshold
    SunRecord("d", 0.1000001, unique=True, novel=True, rmsd=0.1),
    SunRecord("e", 0.02, unique=False, novel=True, rmsd=0.2),  # a duplicate
    SunRecord("f", 0.03, unique=True, novel=False, same_ratio=True),  # known
    SunRecord("g", None, unique=True, novel=True),  # relaxation failed
    SunRecord("h", math.nan, unique=True, novel=True, rmsd=math.nan),
]


def test_sun_counts_at_both_thresholds():
    summary = sun_rate(RECORDS, total=10)  # two crystals lost before evaluation
    loose, strict = summary.at(0.1), summary.at(0.0)
    assert (loose.stable, loose.stable_unique, loose.sun) == (5, 4, 3)
    assert loose.sun_rate == pytest.approx(3 / 10)
    assert loose.sun_new_formula == 2  # b's formula is listed by MP
    assert (strict.stable, strict.sun, strict.sun_new_formula) == (2, 2, 1)
    assert strict.stable_rate == pytest.approx(0.2)
    assert summary.sun_ids[0.1] == ("a", "b", "c")
    assert (summary.total, summary.evaluated, summary.unique, summary.novel) == (
        10,
        7,
        7,
        7,
    )


def test_crystals_out_of_scope_are_never_sun_but_count_in_the_total():
    """Solid hydrogen on the H2 hull is stable, unique, novel and no hydride."""
    records = [
        *RECORDS,
        SunRecord("h3", 0.0, unique=True, novel=True, in_scope=False),
    ]
    summary = sun_rate(records, total=11)
    assert summary.at(0.1).stable == 6
    assert summary.at(0.1).sun == 3
    assert summary.at(0.0).sun == 2
    assert "h3" not in summary.sun_ids[0.0]
    assert summary.out_of_scope == 1
    assert summary.as_dict()["out_of_scope"] == 1
    assert summary.at(0.1).sun_rate == pytest.approx(3 / 11)


def test_mean_rmsd_skips_crystals_without_one():
    summary = sun_rate(RECORDS)
    assert summary.rmsd_count == 5
    assert summary.mean_rmsd == pytest.approx((0.2 + 0.4 + 0.3 + 0.1 + 0.2) / 5)
    assert summary.total == len(RECORDS)
    assert summary.as_dict()["thresholds"][0]["sun"] == 3


def test_empty_campaigns_and_bad_input():
    empty = sun_rate([])
    assert math.isnan(empty.at(0.1).sun_rate)
    assert math.isnan(empty.mean_rmsd)
    assert empty.as_dict()["mean_rmsd"] is None
    with pytest.raises(ValueError, match="repeated crystal ids: a"):
        sun_rate([RECORDS[0], RECORDS[0]])
    with pytest.raises(ValueError, match="below"):
        sun_rate(RECORDS, total=3)
    with pytest.raises(ValueError, match="not finite"):
        sun_rate(RECORDS, thresholds=(math.inf,))
    with pytest.raises(KeyError, match=r"0\.05"):
        sun_rate(RECORDS).at(0.05)


def test_the_first_of_each_duplicate_group_counts():
    assert first_of_groups(["x", "y", "x", "z", "y"]) == [
        True,
        True,
        False,
        True,
        False,
    ]


def _rock_salt() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.1), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_rmsd_of_one_displaced_atom():
    relaxed = _rock_salt().get_primitive_structure()
    n = len(relaxed)
    generated = relaxed.copy()
    generated.translate_sites([1], [0.1, 0, 0], frac_coords=False)
    # the mean shift is removed: rms = d sqrt(N - 1) / N
    assert matched_rmsd(generated, relaxed) == pytest.approx(
        0.1 * math.sqrt(n - 1) / n, rel=1e-3
    )
    assert matched_rmsd(relaxed, relaxed) == pytest.approx(0.0, abs=1e-8)


def test_rmsd_of_crystals_that_do_not_match_is_the_cap():
    relaxed = _rock_salt().get_primitive_structure()  # a = 2.90, angles 60
    other = Structure(Lattice.cubic(3.0), ["Li", "H"], [[0, 0, 0], [0.1, 0.1, 0.1]])
    mean = Lattice.from_parameters(
        *[
            (x + y) / 2
            for x, y in zip(
                relaxed.lattice.parameters, (3, 3, 3, 90, 90, 90), strict=True
            )
        ]
    )
    expected = RMSD_CAP * (mean.volume / 2) ** (1 / 3)
    assert matched_rmsd(other, relaxed) == pytest.approx(expected)
