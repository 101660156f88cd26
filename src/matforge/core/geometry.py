"""Geometry of a relaxation: how far the atoms moved."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure


def site_rmsd(initial: Structure, final: Structure) -> float:
    """Return the root-mean-square displacement of the atoms in a relaxation.

    The sites of both structures must be in the same order (a relaxation keeps
    it). Fractional displacements are wrapped to the nearest periodic image,
    the rigid shift of the whole crystal (their mean) is removed, and the rest
    is expressed in the final cell; the change of the cell itself is not
    counted.

    Parameters
    ----------
    initial
        The structure before relaxation.
    final
        The relaxed structure, same species in the same order.

    Returns
    -------
    float
        The RMSD in angstrom.

    Raises
    ------
    ValueError
        If the structures do not hold the same species in the same order.
    """
    if len(initial) != len(final) or any(
        a.species != b.species for a, b in zip(initial, final, strict=True)
    ):
        raise ValueError("the structures do not hold the same sites in the same order")
    delta = np.asarray(final.frac_coords) - np.asarray(initial.frac_coords)
    delta -= np.round(delta)
    delta -= delta.mean(axis=0)
    delta -= np.round(delta)
    cart = delta @ np.asarray(final.lattice.matrix)
    return float(np.sqrt(np.mean(np.sum(cart**2, axis=1))))
