"""Arrhenius fit of diffusion coefficients: D = D0 exp(-Ea / kT)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOLTZMANN_EV = 8.617333262e-5
"""Boltzmann constant (eV/K)."""


def inverse_kt(temperature: float | np.ndarray) -> float | np.ndarray:
    """Return 1 / (k_B T) in 1/eV."""
    return 1.0 / (BOLTZMANN_EV * np.asarray(temperature, dtype=float))


@dataclass(frozen=True)
class Arrhenius:
    """The fitted line ln D = ln D0 - Ea / kT and its standard errors."""

    ea: float
    """Activation energy (eV)."""
    ea_std: float
    """Standard error of Ea (eV); NaN when it cannot be estimated."""
    d0: float
    """Prefactor, in the unit of the D that were fitted."""
    ln_d0_std: float
    """Standard error of ln D0."""
    weighted: bool
    """True when the points were weighted by their uncertainties."""

    def predict(self, temperature: float | np.ndarray) -> float | np.ndarray:
        """Return D at a temperature (K)."""
        return self.d0 * np.exp(-self.ea * inverse_kt(temperature))


def fit_arrhenius(
    temperatures: Sequence[float],
    diffusivities: Sequence[float],
    std_errors: Sequence[float] | None = None,
) -> Arrhenius:
    """Fit Ea and D0 by (weighted) least squares of ln D over 1/kT.

    Parameters
    ----------
    temperatures
        Temperatures (K), two or more distinct.
    diffusivities
        D at those temperatures (any unit; D0 comes out in it), all positive.
    std_errors
        Standard errors of D. With them, points are weighted by 1/sigma(ln D)^2
        and the errors of Ea and D0 follow from those sigmas (two points
        suffice); without, from the scatter about the line (three or more).

    Returns
    -------
    Arrhenius
        Ea (eV), D0 and their standard errors.
    """
    t = np.asarray(temperatures, dtype=float)
    d = np.asarray(diffusivities, dtype=float)
    if t.shape != d.shape or t.size < 2 or np.unique(t).size < 2:
        raise ValueError("an Arrhenius fit needs D at two or more temperatures")
    if np.any(d <= 0) or np.any(t <= 0):
        raise ValueError(f"D and T must be positive for ln D, got D={d.tolist()}")
    x, y = inverse_kt(t), np.log(d)
    design = np.column_stack([np.ones_like(x), -x])
    weighted = std_errors is not None
    if weighted:
        s = np.asarray(std_errors, dtype=float) / d
        if s.shape != d.shape or not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError("std_errors must be positive and finite, one per D")
        w = 1.0 / s**2
    else:
        w = np.ones_like(x)
    normal = design.T @ (design * w[:, None])
    coef = np.linalg.solve(normal, design.T @ (w * y))
    cov = np.linalg.inv(normal)
    if not weighted:
        dof = x.size - 2
        residual = y - design @ coef
        cov = cov * (float(residual @ residual) / dof if dof > 0 else math.nan)
    return Arrhenius(
        ea=float(coef[1]),
        ea_std=float(np.sqrt(cov[1, 1])),
        d0=float(np.exp(coef[0])),
        ln_d0_std=float(np.sqrt(cov[0, 0])),
        weighted=weighted,
    )
