"""Checks that a structure is a physically sensible, ordered metal hydride.

Each check returns reasons a person understands; an empty list means the
structure passes. The cheap checks run first, and distance checks are skipped
when the lattice itself is broken. What counts as a metal hydride (hydridic
hydrogen, not only H next to a metal in the formula) is defined in
:mod:`matforge.core.chemistry`.
"""

from __future__ import annotations

import math

import numpy as np
from pymatgen.core import Structure

from matforge.core.chemistry import is_metal, metal_hydride_problem, unknown_species

MIN_VOLUME = 1e-3  # cubic angstrom


def lattice_problems(structure: Structure) -> list[str]:
    """Return problems of the cell: non-finite numbers or a zero volume."""
    matrix = np.asarray(structure.lattice.matrix, dtype=float)
    if not np.all(np.isfinite(matrix)):
        return ["the lattice holds a non-finite number (NaN or infinity)"]
    volume = abs(float(np.linalg.det(matrix)))
    if volume < MIN_VOLUME:
        return [
            (
                f"the cell volume is {volume:.3g} A^3: the lattice vectors are "
                "degenerate (zero-volume cell)"
            )
        ]
    if not np.all(np.isfinite(structure.frac_coords)):
        return ["an atomic coordinate is not a finite number (NaN or infinity)"]
    return []


def composition_problems(
    structure: Structure, max_sites: int, primitive: bool = False
) -> list[str]:
    """Return problems of the content: order, size, unknown species, H, metal.

    ``primitive`` says that the structure is its primitive cell, which the
    site limit then names.
    """
    if len(structure) == 0:
        return ["the structure holds no atoms"]
    problems: list[str] = []
    if not structure.is_ordered:
        site = next(i for i, s in enumerate(structure) if not s.is_ordered)
        occupancy = ", ".join(
            f"{sp}:{occ:.2f}" for sp, occ in structure[site].species.items()
        )
        problems.append(
            f"the structure is disordered (site {site} is {occupancy}); only "
            "ordered structures are stored"
        )
    # DummySpecies print with an oxidation state ("Xx0+"): name the symbol only.
    unknown = sorted(
        {sp.rstrip("0123456789.+-") for sp in unknown_species(structure.composition)}
    )
    if unknown:
        problems.append(
            f"unknown element(s) {', '.join(unknown)}: not in the periodic table"
        )
    if len(structure) > max_sites:
        where = " in the primitive cell" if primitive else ""
        problems.append(
            f"{len(structure)} sites{where} is more than the {max_sites} allowed "
            "(setting ingest.max_sites)"
        )
    symbols = {el.symbol for el in structure.composition.elements}
    formula = structure.composition.reduced_formula
    if "H" not in symbols:
        problems.append(f"no hydrogen in {formula}")
    if not unknown and not any(is_metal(s) for s in symbols if s != "H"):
        problems.append(f"no metal in {formula} (a hydride needs at least one metal)")
    return problems


def distance_problems(
    structure: Structure, min_distance: float, distances: np.ndarray | None = None
) -> list[str]:
    """Return a problem when two atoms (periodic images included) are too close.

    ``distances`` is the structure's distance matrix when already computed.
    """
    shortest_vector = min(structure.lattice.get_lll_reduced_lattice().abc)
    if shortest_vector < min_distance:
        return [
            (
                f"a lattice vector is only {shortest_vector:.3f} A long: every atom "
                f"is closer than {min_distance} A to its own periodic image"
            )
        ]
    if len(structure) < 2:
        return []
    if distances is None:
        distances = np.asarray(structure.distance_matrix, dtype=float)
    dist = np.array(distances, dtype=float)  # a copy: the diagonal is changed
    np.fill_diagonal(dist, math.inf)
    i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
    if dist[i, j] < min_distance:
        return [
            (
                f"atoms {i} ({structure[i].specie}) and {j} ({structure[j].specie}) "
                f"are {dist[i, j]:.3f} A apart, closer than the {min_distance} A "
                "allowed"
            )
        ]
    return []


def hydride_problems(
    structure: Structure,
    max_sites: int = 20,
    min_distance: float = 0.5,
    primitive: bool = False,
) -> list[str]:
    """Return every reason why a structure is not an acceptable metal hydride.

    Parameters
    ----------
    structure
        The structure to check (ingest passes its primitive cell).
    max_sites
        Largest accepted number of sites.
    min_distance
        Smallest accepted interatomic distance in angstrom.
    primitive
        Whether ``structure`` is a primitive cell (named in the site-limit
        reason).

    Returns
    -------
    list of str
        Reasons, empty when the structure passes.
    """
    problems = lattice_problems(structure)
    if problems:
        return problems
    problems = composition_problems(structure, max_sites, primitive)
    if any("disordered" in p or "unknown" in p for p in problems):
        return problems
    if len(structure) > max_sites:
        return problems
    distances = np.asarray(structure.distance_matrix, dtype=float)
    problems += distance_problems(structure, min_distance, distances)
    if not any(p.startswith(("no hydrogen", "no metal")) for p in problems) and (
        reason := metal_hydride_problem(structure, distances)
    ):
        problems.append(reason)
    return problems


def energy_problem(name: str, value: object) -> str | None:
    """Return a reason when an energy-like value is present but not a finite number."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"{name} is not a number: {value!r}"
    if not math.isfinite(number):
        shown = "NaN" if math.isnan(number) else repr(value)
        return f"{name} is {shown}, not a finite number"
    return None
