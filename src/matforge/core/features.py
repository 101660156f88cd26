"""Structure analysis and the feature vector of a hydride."""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import moyopy
import numpy as np
from pymatgen.core import Element, Structure

from matforge.core.chemistry import is_metal
from matforge.core.score import energy_factor

AMU_TO_KG = 1.66053906660e-27
AMU_TO_G = 1.66053906660e-24
A3_TO_M3 = 1e-30
A3_TO_CM3 = 1e-24


@dataclass(frozen=True)
class Symmetry:
    """Space group of a structure and a fingerprint of its symmetrised cell."""

    number: int | None
    symbol: str | None
    crystal_system: str | None
    fingerprint: str
    n_primitive: int | None = None
    """Sites of the primitive cell (None when the symmetry search failed)."""


_CRYSTAL_SYSTEMS = (
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)


def crystal_system(spacegroup_number: int) -> str:
    """Return the crystal system of an international space-group number."""
    for last, name in _CRYSTAL_SYSTEMS:
        if spacegroup_number <= last:
            return name
    raise ValueError(f"space-group number {spacegroup_number} is not in 1-230")


@cache
def _quiet_moyo() -> None:
    """Silence moyopy's notes on dropped non-lattice operations (first use only)."""
    logging.getLogger("moyo").setLevel(logging.ERROR)


def _cell_parameters(matrix: np.ndarray) -> tuple[list[float], list[float]]:
    """Return the lengths (A) and angles (degrees) of the rows of a 3x3 matrix."""
    lengths = np.linalg.norm(matrix, axis=1)
    angles = []
    for i, j in ((1, 2), (0, 2), (0, 1)):
        cosine = np.dot(matrix[i], matrix[j]) / (lengths[i] * lengths[j])
        angles.append(float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))))
    return [float(x) for x in lengths], angles


def analyse_symmetry(structure: Structure, symprec: float = 0.1) -> Symmetry:
    """Return the space group and a symmetry-aware fingerprint of a structure.

    One moyopy call (a fast spglib-compatible symmetry finder) gives the space
    group and the primitive standard cell. The fingerprint hashes the reduced
    formula, the space group, the atoms in the primitive cell and its Niggli
    parameters (0.01 A, 0.1 degree), so the same crystal written in another
    setting, origin or supercell hashes alike.
    """
    _quiet_moyo()
    cell = moyopy.Cell(
        structure.lattice.matrix.tolist(),
        structure.frac_coords.tolist(),
        [site.specie.Z for site in structure],
    )
    try:
        dataset = moyopy.MoyoDataset(cell, symprec=symprec)
    except Exception:
        number, symbol, system = None, None, None
        lattice = structure.lattice.get_niggli_reduced_lattice()
        lengths, angles = lattice.abc, lattice.angles
        n_primitive = len(structure)
        known_primitive = None
    else:
        number = int(dataset.number)
        symbol = moyopy.HallSymbolEntry(dataset.hall_number).hm_short.replace(" ", "")
        system = crystal_system(number)
        # the standard primitive cell is already reduced (Niggli for triclinic)
        lengths, angles = _cell_parameters(np.asarray(dataset.prim_std_cell.basis))
        n_primitive = len(dataset.prim_std_cell.numbers)
        known_primitive = n_primitive
    parts = [
        structure.composition.reduced_formula,
        str(number),
        str(n_primitive),
        *(f"{x:.2f}" for x in sorted(lengths)),
        *(f"{x:.1f}" for x in sorted(angles)),
    ]
    digest = hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()
    return Symmetry(number, symbol, system, digest[:20], known_primitive)


@cache
def _element_properties(symbol: str) -> tuple[float, float, bool]:
    """Return (atomic mass in amu, Pauling electronegativity, is metal), cached.

    pymatgen returns these as unit-carrying floats, which are slow to make.
    """
    element = Element(symbol)
    return float(element.atomic_mass), float(element.X), is_metal(symbol)


def _shortest_pair(dist: np.ndarray, rows: list[int], cols: list[int]) -> float | None:
    if not rows or not cols:
        return None
    block = dist[np.ix_(rows, cols)]
    if rows == cols:
        if len(rows) < 2:
            return None
        block = block.copy()
        np.fill_diagonal(block, math.inf)
    return float(block.min())


def hydride_features(
    structure: Structure,
    symmetry: Symmetry,
    formation_energy_per_atom: float | None = None,
    e_above_hull: float | None = None,
    *,
    e_threshold: float,
    sigma: float,
) -> dict[str, Any]:
    """Compute the feature vector of a metal hydride (plain values).

    Parameters
    ----------
    structure
        An ordered structure holding H and at least one metal.
    symmetry
        Its symmetry, from :func:`analyse_symmetry`.
    formation_energy_per_atom, e_above_hull
        Energies in eV/atom, when known.
    e_threshold, sigma
        Parameters of the storage score's energy factor.

    Returns
    -------
    dict
        Feature name to value (the fields of
        :class:`~matforge.schemas.features.HydrideFeatures`).
    """
    symbols = [site.specie.symbol for site in structure]
    counts: dict[str, int] = {}
    for symbol in symbols:
        counts[symbol] = counts.get(symbol, 0) + 1
    n_atoms = len(symbols)
    props = {el: _element_properties(el) for el in counts}
    weights = np.array([counts[el] / n_atoms for el in counts])
    masses = np.array([props[el][0] for el in counts])
    chi = np.array([props[el][1] for el in counts])
    mean_chi = float(np.dot(weights, chi))
    metal_counts = {el: n for el, n in counts.items() if props[el][2]}
    n_metal = sum(metal_counts.values())
    mean_metal_chi = (
        sum(props[el][1] * n for el, n in metal_counts.items()) / n_metal
        if n_metal
        else math.nan
    )
    n_h = counts.get("H", 0)
    cell_mass = float(np.dot(masses, [counts[el] for el in counts]))  # amu
    w_h = n_h * props["H"][0] / cell_mass if n_h else 0.0
    volume = float(structure.volume)
    score = (
        w_h * energy_factor(formation_energy_per_atom, e_threshold, sigma)
        if formation_energy_per_atom is not None
        else None
    )
    dist = np.asarray(structure.distance_matrix, dtype=float)
    h_idx = [i for i, s in enumerate(symbols) if s == "H"]
    m_idx = [i for i, s in enumerate(symbols) if props[s][2]]
    return {
        "h_weight_fraction": w_h,
        "h_atomic_fraction": n_h / n_atoms,
        "formation_energy_per_atom": formation_energy_per_atom,
        "e_above_hull": e_above_hull,
        "storage_score": score,
        "crystal_system": symmetry.crystal_system,
        "spacegroup_number": symmetry.number,
        "volume_per_atom": volume / n_atoms,
        "density": cell_mass * AMU_TO_G / (volume * A3_TO_CM3),
        "h_volumetric_density": n_h * props["H"][0] * AMU_TO_KG / (volume * A3_TO_M3),
        "nelements": len(counts),
        "nsites": n_atoms,
        "mean_electronegativity": mean_chi,
        "std_electronegativity": float(np.sqrt(np.dot(weights, (chi - mean_chi) ** 2))),
        "mean_metal_electronegativity": float(mean_metal_chi),
        "mean_atomic_mass": cell_mass / n_atoms,
        "metal_h_ratio": n_metal / n_h if n_h else math.inf,
        "min_metal_h_distance": _shortest_pair(dist, m_idx, h_idx),
        "min_h_h_distance": _shortest_pair(dist, h_idx, h_idx),
    }
