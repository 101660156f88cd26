"""Li mean squared displacement from an MD trajectory, and D from its slope.

Positions are Cartesian (Å), times in ps, so D comes out in Å^2/ps
(1 Å^2/ps = 1e-4 cm^2/s). The MSD averages over atoms and over every time
origin (FFT autocorrelation). D is the slope of MSD(t) = 6 D t over a lag
window that skips the ballistic and caging regime and stops where too few
independent origins remain; its uncertainty comes from block averaging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def unwrap(positions: FloatArray, cell: FloatArray) -> FloatArray:
    """Return continuous positions from frames that may be wrapped into the cell.

    Parameters
    ----------
    positions
        Cartesian positions, shape (frames, atoms, 3), Å.
    cell
        Lattice vectors as rows, shape (3, 3) (fixed cell: NVT).

    Returns
    -------
    numpy.ndarray
        Positions whose frame-to-frame steps are the minimum-image steps (an
        atom must move less than half a cell between frames).
    """
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    frac = positions @ np.linalg.inv(cell)
    steps = np.diff(frac, axis=0)
    steps -= np.round(steps)
    unwrapped = np.concatenate([frac[:1], frac[:1] + np.cumsum(steps, axis=0)])
    return unwrapped @ cell


def msd_per_atom(positions: FloatArray) -> FloatArray:
    """Return the MSD of each atom at every lag, averaged over all time origins.

    Parameters
    ----------
    positions
        Unwrapped positions, shape (frames, atoms, 3).

    Returns
    -------
    numpy.ndarray
        Shape (frames, atoms): MSD at lags 0 .. frames-1 (Å^2).
    """
    x = np.asarray(positions, dtype=float)
    n = x.shape[0]
    sq = np.sum(x**2, axis=2)  # (frames, atoms)
    spectrum = np.fft.rfft(x, n=2 * n, axis=0)
    auto = np.fft.irfft(spectrum * spectrum.conj(), n=2 * n, axis=0)[:n]
    auto = np.sum(auto, axis=2) / (n - np.arange(n))[:, None]
    total = 2.0 * np.sum(sq, axis=0)
    s1 = np.empty_like(sq)
    for lag in range(n):
        s1[lag] = total / (n - lag)
        total = total - sq[lag] - sq[n - 1 - lag]
    return s1 - 2.0 * auto


def mean_squared_displacement(positions: FloatArray) -> FloatArray:
    """Return the MSD averaged over atoms and origins at every lag (Å^2)."""
    return msd_per_atom(positions).mean(axis=1)


@dataclass(frozen=True)
class MSDFit:
    """D from one MSD curve: value, uncertainties and the window fitted."""

    diffusivity: float
    """D in Å^2/ps."""
    std_error: float
    """Block-average standard error of D (Å^2/ps); NaN with one block."""
    slope_std_error: float
    """Least-squares standard error of slope / 6 over the window (Å^2/ps)."""
    fit_start: float
    """Start of the lag window (ps)."""
    fit_end: float
    """End of the lag window (ps)."""
    exponent: float
    """Slope of log MSD against log t over the window (1 when diffusive)."""
    n_blocks: int
    """Blocks of the block average."""


def _linear_fit(t: FloatArray, y: FloatArray) -> tuple[float, float]:
    design = np.column_stack([t, np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    dof = max(len(t) - 2, 1)
    cov = np.linalg.inv(design.T @ design) * float(residual @ residual) / dof
    return float(coef[0]), float(np.sqrt(cov[0, 0]))


def fit_window(
    n_frames: int, start_fraction: float = 0.1, end_fraction: float = 0.5
) -> tuple[int, int]:
    """Return the lag indices [start, end] of the fit window of ``n_frames``.

    The window starts at ``start_fraction`` of the frames (past the ballistic
    and cage regime) and ends at ``end_fraction`` (beyond it fewer than half
    the time origins remain and the curve gets noisy).
    """
    if not 0 <= start_fraction < end_fraction <= 1:
        raise ValueError(
            f"fit window fractions must satisfy 0 <= start < end <= 1, got "
            f"{start_fraction}, {end_fraction}"
        )
    start = max(1, round(start_fraction * (n_frames - 1)))
    end = max(start + 2, round(end_fraction * (n_frames - 1)))
    if end >= n_frames:
        raise ValueError(f"a trajectory of {n_frames} frames is too short to fit D")
    return start, end


def fit_diffusivity(
    positions: FloatArray,
    dt_ps: float,
    n_blocks: int = 5,
    start_fraction: float = 0.1,
    end_fraction: float = 0.5,
) -> MSDFit:
    """Fit D from the MSD of unwrapped positions (one species).

    The trajectory is cut into ``n_blocks`` contiguous blocks. The lag window
    is set on a block (``start_fraction`` to ``end_fraction`` of its length)
    and is the same for every block and for the whole run: D is the slope over
    that window of the whole run's MSD (every origin), its standard error the
    spread of the blocks' slopes over the same window divided by sqrt(blocks).
    Short lags carry many independent origins, so this is both precise and
    honest; a window up to half the *whole* run would be several times noisier
    than its block error says.

    Parameters
    ----------
    positions
        Unwrapped Cartesian positions of the diffusing atoms, (frames, atoms, 3).
    dt_ps
        Time between frames (ps).
    n_blocks
        Blocks of the block average (1: no block error, the window is set on
        the whole run).
    start_fraction, end_fraction
        The lag window as fractions of a block (:func:`fit_window`).

    Returns
    -------
    MSDFit
        D (Å^2/ps), its uncertainties and the window.
    """
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise ValueError(f"positions must be (frames, atoms, 3), got {positions.shape}")
    if dt_ps <= 0:
        raise ValueError(f"the frame interval must be positive, got {dt_ps} ps")
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be 1 or more, got {n_blocks}")
    n_frames = positions.shape[0]
    blocks = np.array_split(positions, n_blocks, axis=0)
    start, end = fit_window(min(len(b) for b in blocks), start_fraction, end_fraction)
    times = np.arange(n_frames) * dt_ps
    t = times[start : end + 1]
    msd = mean_squared_displacement(positions)[start : end + 1]
    slope, slope_err = _linear_fit(t, msd)
    exponent, _ = _linear_fit(np.log(t), np.log(np.maximum(msd, 1e-300)))
    slopes = [
        _linear_fit(t, mean_squared_displacement(block)[start : end + 1])[0]
        for block in blocks
    ]
    std = (
        float(np.std(slopes, ddof=1) / np.sqrt(n_blocks) / 6.0)
        if n_blocks > 1
        else float("nan")
    )
    return MSDFit(
        diffusivity=slope / 6.0,
        std_error=std,
        slope_std_error=slope_err / 6.0,
        fit_start=float(t[0]),
        fit_end=float(t[-1]),
        exponent=exponent,
        n_blocks=n_blocks,
    )
