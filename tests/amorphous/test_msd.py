"""D from the MSD of synthetic random walks, and the Arrhenius fit."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.amorphous.arrhenius import BOLTZMANN_EV, fit_arrhenius
from matforge.amorphous.msd import (
    fit_diffusivity,
    mean_squared_displacement,
    unwrap,
)


def _walk(d: float, dt: float, frames: int, atoms: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, np.sqrt(2.0 * d * dt), size=(frames, atoms, 3))
    return np.cumsum(steps, axis=0)


def test_random_walk_d_recovered_within_5_percent() -> None:
    d, dt = 0.5, 0.01  # Å^2/ps, ps
    positions = _walk(d, dt, frames=1000, atoms=200, seed=3)
    cell = np.diag([9.0, 10.0, 11.0])
    wrapped = positions - np.floor(positions @ np.linalg.inv(cell)) @ cell
    fit = fit_diffusivity(unwrap(wrapped, cell), dt)
    assert fit.diffusivity == pytest.approx(d, rel=0.05)
    assert 0 < fit.std_error < 0.05 * d
    assert fit.fit_start < fit.fit_end
    assert fit.exponent == pytest.approx(1.0, abs=0.1)


def test_block_error_is_honest_over_many_walks() -> None:
    d, dt = 0.2, 0.02
    z = []
    for seed in range(12):
        fit = fit_diffusivity(_walk(d, dt, 600, 60, seed), dt)
        z.append((fit.diffusivity - d) / fit.std_error)
    assert 0.4 < np.std(z) < 2.0


def test_unwrap_restores_positions() -> None:
    positions = _walk(2.0, 0.01, 300, 5, seed=1)
    cell = np.array([[6.0, 0.0, 0.0], [1.0, 6.0, 0.0], [0.0, 0.5, 7.0]])
    frac = positions @ np.linalg.inv(cell)
    wrapped = (frac - np.floor(frac)) @ cell
    restored = unwrap(wrapped, cell)
    np.testing.assert_allclose(restored - restored[0], positions - positions[0])


def test_msd_matches_the_direct_average() -> None:
    positions = _walk(1.0, 0.01, 120, 4, seed=2)
    msd = mean_squared_displacement(positions)
    for lag in (1, 7, 60):
        direct = np.mean(np.sum((positions[lag:] - positions[:-lag]) ** 2, axis=2))
        assert msd[lag] == pytest.approx(direct)
    assert msd[0] == pytest.approx(0.0, abs=1e-9)


def test_too_short_a_trajectory_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        fit_diffusivity(_walk(1.0, 0.01, 8, 2, 0), 0.01)


def test_arrhenius_recovers_ea() -> None:
    ea, d0 = 0.35, 6.0
    temps = np.array([1000.0, 1500.0, 2000.0, 2500.0])
    d = d0 * np.exp(-ea / (BOLTZMANN_EV * temps))
    fit = fit_arrhenius(temps, d * (1 + np.array([0.02, -0.01, 0.015, -0.02])))
    assert fit.ea == pytest.approx(ea, abs=0.02)
    assert fit.d0 == pytest.approx(d0, rel=0.15)
    assert 0 < fit.ea_std < 0.05
    two = fit_arrhenius(temps[:2], d[:2], std_errors=0.05 * d[:2])
    assert two.ea == pytest.approx(ea)
    assert two.weighted
    assert two.ea_std > 0
    with pytest.raises(ValueError, match="two or more"):
        fit_arrhenius([1000.0], [1.0])
