"""Random periodic packing of a composition: the start of a melt-quench."""

from __future__ import annotations

import math

import numpy as np
from pymatgen.core import Composition, Lattice, Structure

MIN_DISTANCE = 2.0
"""Closest approach of two atoms (Å): packmol's tolerance in atomate2's
``get_random_packed_structure``."""


def cell_composition(composition: Composition | str, target_atoms: int) -> Composition:
    """Return whole formula units of ``composition`` with at least ``target_atoms``."""
    comp = Composition(composition)
    formula, _ = comp.get_integer_formula_and_factor()
    unit = Composition(formula)
    units = max(1, math.ceil(target_atoms / unit.num_atoms))
    return unit * units


def random_packing(
    composition: Composition | str,
    target_atoms: int,
    volume_per_atom: float,
    seed: int = 0,
    min_distance: float = MIN_DISTANCE,
    max_tries: int = 2000,
) -> Structure:
    """Place the atoms at random in a cubic periodic cell, kept apart.

    A trial position is kept when its minimum-image distance to every placed
    atom is at least ``min_distance``; when an atom finds no place in
    ``max_tries`` trials (a dense cell), the distance shrinks by 10 % and the
    packing restarts. Unlike packmol's box, the cell is periodic: no gap at
    its faces.

    Parameters
    ----------
    composition
        The formula (reduced or not).
    target_atoms
        Fewest atoms wanted; whole formula units are used.
    volume_per_atom
        Cell volume per atom (Å^3).
    seed
        Seed of the positions.
    min_distance
        Closest approach (Å).
    max_tries
        Trials per atom before the distance shrinks.

    Returns
    -------
    Structure
        The packed cubic cell.
    """
    if volume_per_atom <= 0:
        raise ValueError(f"volume per atom must be positive, got {volume_per_atom}")
    comp = cell_composition(composition, target_atoms)
    species = [el.symbol for el, n in comp.items() for _ in range(round(n))]
    length = (volume_per_atom * len(species)) ** (1.0 / 3.0)
    rng = np.random.default_rng(seed)
    distance = min_distance
    while distance > 0.2:
        placed = np.empty((len(species), 3))
        for i in range(len(species)):
            for _ in range(max_tries):
                trial = rng.random(3) * length
                delta = placed[:i] - trial
                delta -= length * np.round(delta / length)
                if np.all(np.einsum("ij,ij->i", delta, delta) >= distance**2):
                    placed[i] = trial
                    break
            else:
                break
        else:
            order = rng.permutation(len(species))
            return Structure(
                Lattice.cubic(length),
                [species[k] for k in order],
                placed,
                coords_are_cartesian=True,
            )
        distance *= 0.9
    raise ValueError(
        f"could not pack {len(species)} atoms of {comp.reduced_formula} into "
        f"{volume_per_atom:.2f} Å^3/atom"
    )
