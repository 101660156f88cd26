"""Crystals as PyG graphs, periodic neighbour lists and the data split.

Everything periodic is written in plain torch (no torch-cluster / pyg-lib):
the neighbour list enumerates, for every pair of atoms of a crystal, the
lattice images whose distance lies within the cutoff.

Conventions: a lattice is a ``(3, 3)`` tensor whose *rows* are the lattice
vectors; Cartesian coordinates are ``frac @ lattice``; batched tensors follow
PyG (atoms concatenated, ``batch`` gives the crystal of each atom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Lattice, Structure
from torch import Tensor
from torch_geometric.data import Data

MAX_Z = 100
"""Largest atomic number the model knows; types are atomic numbers 1..MAX_Z."""


def lattice_params_to_matrix(lengths: Tensor, angles: Tensor) -> Tensor:
    """Return lattice matrices (rows = vectors) from lengths and angles.

    Uses pymatgen's ``Lattice.from_parameters`` orientation (c along z).
    Angles no cell can have (a predicted lattice early in training) give a
    thin but invertible cell.

    Parameters
    ----------
    lengths
        ``(B, 3)`` lengths a, b, c in angstrom.
    angles
        ``(B, 3)`` angles alpha, beta, gamma in degrees.

    Returns
    -------
    Tensor
        ``(B, 3, 3)`` lattice matrices.
    """
    alpha, beta, gamma = torch.deg2rad(angles).unbind(-1)
    val = (torch.cos(alpha) * torch.cos(beta) - torch.cos(gamma)) / (
        torch.sin(alpha) * torch.sin(beta)
    )
    # angles no cell has (val beyond +-1) give a thin cell, never a flat one
    gamma_star = torch.arccos(val.clamp(-0.9999, 0.9999))
    a, b, c = lengths.unbind(-1)
    zero = torch.zeros_like(a)
    vec_a = torch.stack([a * torch.sin(beta), zero, a * torch.cos(beta)], dim=-1)
    vec_b = torch.stack(
        [
            -b * torch.sin(alpha) * torch.cos(gamma_star),
            b * torch.sin(alpha) * torch.sin(gamma_star),
            b * torch.cos(alpha),
        ],
        dim=-1,
    )
    vec_c = torch.stack([zero, zero, c], dim=-1)
    return torch.stack([vec_a, vec_b, vec_c], dim=-2)


def lattice_matrix_to_params(lattice: Tensor) -> tuple[Tensor, Tensor]:
    """Return lengths (angstrom) and angles (degrees) of ``(B, 3, 3)`` lattices."""
    lengths = lattice.norm(dim=-1)
    a, b, c = lattice.unbind(-2)

    def angle(u: Tensor, v: Tensor) -> Tensor:
        cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
        return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))

    angles = torch.stack([angle(b, c), angle(a, c), angle(a, b)], dim=-1)
    return lengths, angles


def frac_to_cart(frac: Tensor, lattice: Tensor, batch: Tensor) -> Tensor:
    """Return Cartesian coordinates ``frac @ lattice`` of batched atoms."""
    return torch.einsum("ni,nij->nj", frac, lattice[batch])


def cart_to_frac(cart: Tensor, lattice: Tensor, batch: Tensor) -> Tensor:
    """Return fractional coordinates of batched Cartesian positions (unwrapped)."""
    inverse = torch.linalg.inv(lattice)
    return torch.einsum("ni,nij->nj", cart, inverse[batch])


@dataclass(frozen=True)
class PeriodicEdges:
    """A periodic neighbour list.

    ``vectors[e]`` points from atom ``src[e]`` to the image of atom ``dst[e]``
    (Cartesian, angstrom); ``distances[e]`` is its length.
    """

    src: Tensor
    dst: Tensor
    vectors: Tensor
    distances: Tensor


def _pairs_within_crystals(num_atoms: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return (i, j, crystal) for every ordered pair of atoms of each crystal."""
    device = num_atoms.device
    counts = num_atoms * num_atoms
    crystal = torch.repeat_interleave(
        torch.arange(len(num_atoms), device=device), counts
    )
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(int(counts.sum()), device=device) - start[crystal]
    n = num_atoms[crystal]
    offset = (torch.cumsum(num_atoms, 0) - num_atoms)[crystal]
    return local // n + offset, local % n + offset, crystal


def periodic_edges(
    frac: Tensor,
    lattice: Tensor,
    num_atoms: Tensor,
    cutoff: float,
    max_images: int = 4,
    max_neighbors: int | None = None,
) -> PeriodicEdges:
    """Find the periodic neighbours within a cutoff, in plain torch.

    For each ordered pair of atoms ``(i, j)`` of a crystal (``i == j`` allowed
    for other images), the lattice translations ``n`` that can bring atom
    ``j``'s image within ``cutoff`` of atom ``i`` are enumerated from the
    spacing of the lattice planes (a box per pair, from its minimum-image
    separation), and the images within the cutoff are kept.
    The result does not depend on which periodic image the coordinates are
    given in, nor on the order of the atoms.

    Parameters
    ----------
    frac
        ``(N, 3)`` fractional coordinates of all atoms (any image).
    lattice
        ``(B, 3, 3)`` lattices, rows are the vectors.
    num_atoms
        ``(B,)`` atoms per crystal; atoms are stored crystal after crystal.
    cutoff
        Neighbour cutoff in angstrom.
    max_images
        Largest translation searched along each axis (guards degenerate cells
        thinner than ``cutoff / max_images``).
    max_neighbors
        Keep only each atom's nearest neighbours: those no farther than its
        ``max_neighbors``-th nearest (ties at that distance, within 1e-3 A,
        are all kept so the graph keeps the crystal's symmetry); None keeps
        every neighbour within the cutoff.

    Returns
    -------
    PeriodicEdges
        The neighbour list, ordered by source atom.
    """
    device = frac.device
    i, j, crystal = _pairs_within_crystals(num_atoms)
    diff = frac[j] - frac[i]
    diff = diff - torch.round(diff)  # minimum-image start, in [-0.5, 0.5]
    # Plane spacing along axis k is 1 / |column k of inv(lattice)|: an image
    # within the cutoff has |diff_k + n_k| <= cutoff * |column k|, so each
    # pair's translations lie in a box of its own, enumerated here.
    reach = (cutoff * torch.linalg.inv(lattice).norm(dim=-2))[crystal]  # (P, 3)
    low = torch.ceil(-reach - diff).clamp(-max_images, max_images).long()
    high = torch.floor(reach - diff).clamp(-max_images, max_images).long()
    sizes = (high - low + 1).clamp_min(0)  # (P, 3)
    per_pair = sizes.prod(-1)
    pair = torch.repeat_interleave(torch.arange(len(i), device=device), per_pair)
    local = (
        torch.arange(len(pair), device=device)
        - (torch.cumsum(per_pair, 0) - per_pair)[pair]
    )
    size = sizes[pair]
    offset = torch.stack(
        [
            local // (size[:, 1] * size[:, 2]),
            (local // size[:, 2]) % size[:, 1],
            local % size[:, 2],
        ],
        dim=-1,
    )
    shift = diff[pair] + (low[pair] + offset).to(frac.dtype)
    vectors = torch.einsum("ei,eij->ej", shift, lattice[crystal[pair]])
    distances = vectors.norm(dim=-1)
    keep = (distances <= cutoff) & (distances > 1e-8)
    pair, vectors, distances = pair[keep], vectors[keep], distances[keep]
    src, dst = i[pair], j[pair]
    # order by source atom, nearest first (one sort on a combined key)
    key = src.double() * (2.0 * cutoff + 1.0) + distances.double()
    order = torch.argsort(key)
    src, dst, vectors, distances = (
        src[order],
        dst[order],
        vectors[order],
        distances[order],
    )
    if max_neighbors is not None and len(src):
        counts = torch.bincount(src, minlength=len(frac))
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(src), device=device) - starts[src]
        last = torch.clamp(counts, max=max_neighbors) - 1
        kth = distances[(starts + last.clamp_min(0)).clamp(max=len(src) - 1)]
        keep = (rank < max_neighbors) | (distances <= kth[src] + 1e-3)
        src, dst, vectors, distances = (
            src[keep],
            dst[keep],
            vectors[keep],
            distances[keep],
        )
    return PeriodicEdges(src=src, dst=dst, vectors=vectors, distances=distances)


_SIGN_FLIPS = tuple(
    np.diag(d).astype(np.int64)
    for d in ((1, 1, 1), (-1, -1, 1), (-1, 1, -1), (1, -1, -1))
)


def _lattice_automorphisms(lattice: Lattice) -> list[np.ndarray]:
    """Return the lattice's symmetries as proper integer basis changes.

    The matrices ``S`` (det +1) for which ``S @ A`` is a basis of the same
    lattice with the same parameters; the identity is among them.
    """
    found = [np.eye(3, dtype=np.int64)]
    for _, _, scale in lattice.find_all_mappings(
        lattice, ltol=1e-4, atol=1e-2, skip_rotation_matrix=True
    ):
        matrix = np.asarray(scale, dtype=np.int64)
        if round(np.linalg.det(matrix)) != 1:
            continue
        if not any(np.array_equal(matrix, m) for m in found):
            found.append(matrix)
    return found


def _cell_rank(angles: np.ndarray) -> tuple[int, int]:
    """Niggli's preference: all angles acute (type I), else most non-acute."""
    acute = angles < 90.0 - 1e-3
    return (0 if acute.all() else 1, -int((~acute).sum()))


def canonical_structure(structure: Structure) -> Structure:
    """Return the crystal in a canonical cell, as CDVAE reads its data.

    The cell is Niggli-reduced and rebuilt from its six lattice parameters
    (pymatgen's ``Lattice.from_parameters`` orientation), so every
    equivalent cell, whatever its basis, orientation or site images, gives
    the lattice head the same target. Beyond CDVAE, what pymatgen's reduction
    leaves open is settled too: it is run on the cell rebuilt from its
    parameters (its result depends on the orientation otherwise), the signs
    of the reduced vectors are chosen as Niggli's conditions prefer (all
    angles acute, else as many non-acute as possible; pymatgen returns mixed
    cells near 90 degrees), and among the bases the lattice's own symmetries
    allow the one giving the smallest sorted list of ``(Z, fractional
    coordinates)`` is kept. Equivalent cells then give identical inputs.

    Parameters
    ----------
    structure
        An ordered crystal.

    Returns
    -------
    Structure
        The same crystal in the canonical cell, sites sorted by atomic number
        and fractional coordinates (wrapped into [0, 1)).
    """
    upright = Structure(
        Lattice.from_parameters(*structure.lattice.parameters),
        structure.species,
        structure.frac_coords,
        coords_are_cartesian=False,
    )
    reduced = upright.get_reduced_structure()
    matrix = reduced.lattice.matrix
    numbers = np.array([site.specie.Z for site in reduced])
    frac = reduced.frac_coords
    best: tuple[tuple, np.ndarray, np.ndarray, np.ndarray] | None = None
    for symmetry in _lattice_automorphisms(reduced.lattice):
        for flip in _SIGN_FLIPS:
            change = flip @ symmetry
            basis = change @ matrix
            params = np.array(Lattice(basis).parameters)
            # x = f A = f' (C A)  =>  f' = f C^-1
            moved = np.mod(np.round(frac @ np.linalg.inv(change), 10), 1.0)
            keys = np.mod(np.round(moved, 4), 1.0)
            order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0], numbers))
            key = (
                _cell_rank(params[3:]),
                tuple(np.round(params, 3)),
                tuple(np.column_stack([numbers[order], keys[order]]).ravel()),
            )
            if best is None or key < best[0]:
                best = (key, params, numbers[order], moved[order])
    assert best is not None
    _, params, ordered, coords = best
    return Structure(
        Lattice.from_parameters(*params),
        ordered.tolist(),
        coords,
        coords_are_cartesian=False,
    )


def structure_to_data(
    structure: Structure,
    storage_score: float | None = None,
    material_id: str = "",
    *,
    canonical: bool = True,
) -> Data:
    """Turn a crystal into a PyG ``Data`` graph (nodes only; edges are periodic).

    Parameters
    ----------
    structure
        An ordered crystal.
    storage_score
        Its Hydrogen Storage Score, or None when unknown.
    material_id
        Its id, kept on the graph.
    canonical
        Read the crystal in its canonical cell (:func:`canonical_structure`:
        Niggli-reduced, rebuilt from the lattice parameters, as CDVAE);
        False keeps the cell as given.

    Returns
    -------
    Data
        ``atom_types`` (atomic numbers), ``frac_coords`` (wrapped to [0, 1)),
        ``lattice`` ``(1, 3, 3)``, ``lengths`` and ``angles`` ``(1, 3)``,
        ``num_atoms`` ``(1,)``, ``y`` ``(1,)`` score and ``y_mask`` ``(1,)``.
    """
    if not structure.is_ordered:
        raise ValueError("structure_to_data needs an ordered structure")
    numbers = [site.specie.Z for site in structure]
    if max(numbers) > MAX_Z:
        raise ValueError(f"atomic numbers above {MAX_Z} are not supported")
    if canonical:
        structure = canonical_structure(structure)
        numbers = [site.specie.Z for site in structure]
    lattice = structure.lattice
    frac = np.mod(structure.frac_coords, 1.0)
    known = storage_score is not None and math.isfinite(storage_score)
    return Data(
        atom_types=torch.tensor(numbers, dtype=torch.long),
        frac_coords=torch.tensor(frac, dtype=torch.float32),
        lattice=torch.tensor(lattice.matrix, dtype=torch.float32).unsqueeze(0),
        lengths=torch.tensor([lattice.abc], dtype=torch.float32),
        angles=torch.tensor([lattice.angles], dtype=torch.float32),
        num_atoms=torch.tensor([len(structure)], dtype=torch.long),
        y=torch.tensor([storage_score if known else 0.0], dtype=torch.float32),
        y_mask=torch.tensor([known], dtype=torch.bool),
        num_nodes=len(structure),
        material_id=material_id,
    )


def data_to_structure(
    atom_types: Tensor, frac_coords: Tensor, lattice: Tensor
) -> Structure:
    """Build a pymatgen ``Structure`` from one crystal's tensors."""
    return Structure(
        Lattice(lattice.detach().cpu().double().numpy().reshape(3, 3)),
        [int(z) for z in atom_types.tolist()],
        frac_coords.detach().cpu().double().numpy(),
        coords_are_cartesian=False,
    )


def split_indices(
    n: int, seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> dict[str, list[int]]:
    """Return a seeded train / val / test split of ``n`` items.

    Parameters
    ----------
    n
        Number of items.
    seed
        Seed of the permutation.
    fractions
        Shares of train, val and test (the paper: 270/90/90 of 450).

    Returns
    -------
    dict[str, list[int]]
        Sorted indices of ``train``, ``val`` and ``test``; val and test hold at
        least one item each when ``n >= 3``.
    """
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions {fractions} do not sum to 1")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator).tolist()
    n_val = round(fractions[1] * n)
    n_test = round(fractions[2] * n)
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    n_train = n - n_val - n_test
    return {
        "train": sorted(order[:n_train]),
        "val": sorted(order[n_train : n_train + n_val]),
        "test": sorted(order[n_train + n_val :]),
    }
