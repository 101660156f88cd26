import csv
import itertools
import math

import pytest
from pymatgen.core import Composition

from matforge.core.score import energy_factor as _energy_factor
from matforge.core.score import h_weight_fraction, score_of_formula, storage_score
from matforge.settings import ScoreSettings

DEFAULTS = ScoreSettings()  # the defaults are defined once, in the settings


def energy_factor(energy, e_threshold=DEFAULTS.e_threshold, sigma=DEFAULTS.sigma):
    return _energy_factor(energy, e_threshold, sigma)


def paper_rows(shared_data):
    with (shared_data / "paper_table.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_reproduces_every_row_of_the_paper_table(shared_data):
    rows = paper_rows(shared_data)
    assert len(rows) == 10
    for row in rows:
        result = storage_score(
            row["formula"],
            float(row["e_form_predicted_ev_per_atom"]),
            DEFAULTS.e_threshold,
            DEFAULTS.sigma,
        )
        assert result.storage_score == pytest.approx(
            float(row["h_storage_score"]), abs=0.0005
        ), row["formula"]


def test_weight_fraction_of_known_hydrides():
    assert h_weight_fraction("MgH2") == pytest.approx(
        2 * 1.008 / (24.305 + 2.016), 1e-3
    )
    assert h_weight_fraction(Composition("TiH2")) == pytest.approx(0.0404, abs=1e-4)
    assert h_weight_fraction("Ti") == 0.0


def test_energy_factor_is_smooth_decreasing_and_bounded():
    energies = [-1 + 0.01 * i for i in range(250)]
    values = [energy_factor(e) for e in energies]
    assert all(0 < v < 1 for v in values)
    assert all(a > b for a, b in itertools.pairwise(values))
    assert energy_factor(0.121) == pytest.approx(0.5)
    # no jump anywhere: neighbouring energies give neighbouring factors
    assert max(abs(a - b) for a, b in itertools.pairwise(values)) < 0.02


def test_energy_factor_parameters_change_it():
    assert energy_factor(0.0, e_threshold=0.0) == pytest.approx(0.5)
    assert energy_factor(-0.1, sigma=0.01) > energy_factor(-0.1, sigma=1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_energy_is_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        energy_factor(bad)


def test_score_of_empty_composition_is_refused():
    with pytest.raises(ValueError, match="no atoms"):
        h_weight_fraction(Composition({}))


@pytest.mark.parametrize(
    ("formula", "reason"),
    [("Xx2H", "cannot read formula"), ("Fe2O3", "holds no hydrogen")],
)
def test_a_formula_that_cannot_be_scored_is_named(formula, reason):
    with pytest.raises(ValueError, match=reason) as info:
        score_of_formula(formula, -0.1, DEFAULTS.e_threshold, DEFAULTS.sigma)
    assert formula in str(info.value)
