"""Geometry: primitive cells, and how far the atoms moved in a relaxation."""

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


def primitive_cell(
    structure: Structure, symprec: float = 0.1, n_primitive: int | None = None
) -> Structure:
    """Return the primitive cell of an ordered structure, Niggli-reduced.

    A structure that is already primitive comes back as it is (the same
    object, its cell as written); a conventional cell or a supercell comes
    back as its Niggli-reduced primitive cell, with the positions of the input
    (not symmetrised).

    Parameters
    ----------
    structure
        An ordered structure.
    symprec
        Distance tolerance in angstrom for sites that a lattice translation
        maps onto each other.
    n_primitive
        The number of sites of the primitive cell when a symmetry search has
        already found it (e.g. :attr:`~matforge.core.features.Symmetry.n_primitive`):
        a structure with that many sites is returned at once, without a search.

    Returns
    -------
    Structure
        The primitive cell.
    """
    if n_primitive is not None and n_primitive >= len(structure):
        return structure
    reduced = structure.get_primitive_structure(tolerance=symprec)
    if len(reduced) >= len(structure):
        return structure
    return reduced.get_reduced_structure("niggli")
