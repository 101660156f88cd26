"""Structure analysis and the feature vector of a hydride."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import moyopy
import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure

from matforge.core.chemistry import is_metal
from matforge.core.score import DEFAULT_E_THRESHOLD, DEFAULT_SIGMA, storage_score
from matforge.schemas.features import HydrideFeatures

AMU_TO_KG = 1.66053906660e-27
A3_TO_M3 = 1e-30


@dataclass(frozen=True)
class Symmetry:
    """Space group of a structure and a fingerprint of its symmetrised cell."""

    number: int | None
    symbol: str | None
    crystal_system: str | None
    fingerprint: str


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


def analyse_symmetry(structure: Structure, symprec: float = 0.1) -> Symmetry:
    """Return the space group and a symmetry-aware fingerprint of a structure.

    One moyopy call (a fast spglib-compatible symmetry finder) gives the space
    group and the primitive standard cell. The fingerprint hashes the reduced
    formula, the space group, the atoms in the primitive cell and its Niggli
    parameters (0.01 A, 0.1 degree), so the same crystal written in another
    setting, origin or supercell hashes alike.
    """
    cell = moyopy.Cell(
        structure.lattice.matrix.tolist(),
        structure.frac_coords.tolist(),
        [site.specie.Z for site in structure],
    )
    try:
        dataset = moyopy.MoyoDataset(cell, symprec=symprec)
    except Exception:
        number, symbol, system = None, None, None
        primitive_matrix = structure.lattice.matrix
        n_primitive = len(structure)
    else:
        number = int(dataset.number)
        symbol = moyopy.HallSymbolEntry(dataset.hall_number).hm_short.replace(" ", "")
        system = crystal_system(number)
        primitive_matrix = dataset.prim_std_cell.basis
        n_primitive = len(dataset.prim_std_cell.numbers)
    lattice = Lattice(primitive_matrix).get_niggli_reduced_lattice()
    parts = [
        structure.composition.reduced_formula,
        str(number),
        str(n_primitive),
        *(f"{x:.2f}" for x in sorted(lattice.abc)),
        *(f"{x:.1f}" for x in sorted(lattice.angles)),
    ]
    digest = hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()
    return Symmetry(number, symbol, system, digest[:20])


def _shortest_pair(
    structure: Structure, rows: list[int], cols: list[int]
) -> float | None:
    if not rows or not cols:
        return None
    dist = np.asarray(structure.distance_matrix, dtype=float)[np.ix_(rows, cols)]
    if rows == cols:
        if len(rows) < 2:
            return None
        np.fill_diagonal(dist, math.inf)
    return float(dist.min())


def hydride_features(
    structure: Structure,
    symmetry: Symmetry,
    formation_energy_per_atom: float | None = None,
    e_above_hull: float | None = None,
    e_threshold: float = DEFAULT_E_THRESHOLD,
    sigma: float = DEFAULT_SIGMA,
) -> HydrideFeatures:
    """Compute the feature vector of a metal hydride.

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
    HydrideFeatures
        The features.
    """
    comp: Composition = structure.composition
    n_atoms = comp.num_atoms
    fractions = {el: comp.get_atomic_fraction(el) for el in comp.elements}
    chi = np.array([el.X for el in fractions])
    weights = np.array(list(fractions.values()))
    mean_chi = float(np.dot(weights, chi))
    metals = {el: f for el, f in fractions.items() if is_metal(el.symbol)}
    metal_weight = sum(metals.values())
    mean_metal_chi = (
        sum(el.X * f for el, f in metals.items()) / metal_weight if metals else math.nan
    )
    n_h = comp["H"]
    n_metal = sum(comp[el] for el in metals)
    h_mass_kg = n_h * float(Element("H").atomic_mass) * AMU_TO_KG
    h_idx = [i for i, s in enumerate(structure) if s.specie.symbol == "H"]
    m_idx = [i for i, s in enumerate(structure) if is_metal(s.specie.symbol)]
    score = (
        storage_score(comp, formation_energy_per_atom, e_threshold, sigma).storage_score
        if formation_energy_per_atom is not None
        else None
    )
    return HydrideFeatures(
        h_weight_fraction=float(comp.get_wt_fraction("H")),
        h_atomic_fraction=float(n_h / n_atoms),
        formation_energy_per_atom=formation_energy_per_atom,
        e_above_hull=e_above_hull,
        storage_score=score,
        crystal_system=symmetry.crystal_system,
        spacegroup_number=symmetry.number,
        volume_per_atom=float(structure.volume / n_atoms),
        density=float(structure.density),
        h_volumetric_density=float(h_mass_kg / (structure.volume * A3_TO_M3)),
        nelements=len(comp.elements),
        nsites=len(structure),
        mean_electronegativity=mean_chi,
        std_electronegativity=float(np.sqrt(np.dot(weights, (chi - mean_chi) ** 2))),
        mean_metal_electronegativity=float(mean_metal_chi),
        mean_atomic_mass=float(comp.weight / n_atoms),
        metal_h_ratio=float(n_metal / n_h) if n_h else math.inf,
        min_metal_h_distance=_shortest_pair(structure, m_idx, h_idx),
        min_h_h_distance=_shortest_pair(structure, h_idx, h_idx),
    )
