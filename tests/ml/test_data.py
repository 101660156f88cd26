import numpy as np
import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from matforge.ml.data import (
    canonical_structure,
    data_to_structure,
    lattice_matrix_to_params,
    lattice_params_to_matrix,
    periodic_edges,
    split_indices,
    structure_to_data,
)


def _edges_of(structures, cutoff=4.5):
    batch = Batch.from_data_list([structure_to_data(s) for s in structures])
    edges = periodic_edges(batch.frac_coords, batch.lattice, batch.num_atoms, cutoff)
    return batch, edges


def test_neighbour_list_matches_pymatgen(seed_structures):
    batch, edges = _edges_of(seed_structures)
    for k, structure in enumerate(seed_structures):
        _, _, _, expected = structure.get_neighbor_list(4.5)
        mine = edges.distances[batch.batch[edges.src] == k].numpy()
        assert len(mine) == len(expected)
        np.testing.assert_allclose(np.sort(mine), np.sort(expected), atol=1e-4)


def test_neighbour_list_ignores_image_choice_and_order(seed_structures):
    structure = seed_structures[3]
    data = structure_to_data(structure)
    one = Batch.from_data_list([data])
    ref = periodic_edges(one.frac_coords, one.lattice, one.num_atoms, 4.5)
    shifted = one.frac_coords + torch.tensor([[2.0, -1.0, 3.0]])
    perm = torch.randperm(len(shifted), generator=torch.Generator().manual_seed(0))
    other = periodic_edges(shifted[perm], one.lattice, one.num_atoms, 4.5)
    np.testing.assert_allclose(
        np.sort(ref.distances.numpy()), np.sort(other.distances.numpy()), atol=1e-4
    )


def test_vectors_point_to_neighbour_images(seed_structures):
    batch, edges = _edges_of(seed_structures[:2])
    cart = torch.einsum("ni,nij->nj", batch.frac_coords, batch.lattice[batch.batch])
    delta = cart[edges.dst] - cart[edges.src] - edges.vectors
    # The difference is a lattice translation: integer in fractional coordinates.
    inv = torch.linalg.inv(batch.lattice[batch.batch[edges.src]])
    frac = torch.einsum("ei,eij->ej", delta, inv)
    assert torch.allclose(frac, frac.round(), atol=1e-4)


def test_lattice_parameters_round_trip(seed_structures):
    lengths = torch.tensor([s.lattice.abc for s in seed_structures])
    angles = torch.tensor([s.lattice.angles for s in seed_structures])
    matrix = lattice_params_to_matrix(lengths, angles)
    back_lengths, back_angles = lattice_matrix_to_params(matrix)
    assert torch.allclose(back_lengths, lengths, atol=1e-4)
    assert torch.allclose(back_angles, angles, atol=1e-3)
    for k, s in enumerate(seed_structures):
        assert np.allclose(matrix[k].numpy(), s.lattice.matrix, atol=1e-4) or (
            abs(np.linalg.det(matrix[k].numpy()) - s.volume) < 1e-3
        )


def test_structure_round_trip(seed_structures):
    structure = seed_structures[0]
    data = structure_to_data(structure, storage_score=0.3, material_id="x")
    assert data.num_atoms.item() == len(structure)
    assert bool(data.y_mask)
    assert data.y.item() == pytest.approx(0.3)
    back = data_to_structure(data.atom_types, data.frac_coords, data.lattice[0])
    assert back.composition == structure.composition
    assert structure_to_data(structure).y_mask.item() is False


def test_split_is_seeded_and_disjoint():
    split = split_indices(450, seed=7)
    assert [len(split[k]) for k in ("train", "val", "test")] == [270, 90, 90]
    assert split == split_indices(450, seed=7)
    assert split != split_indices(450, seed=8)
    everything = split["train"] + split["val"] + split["test"]
    assert sorted(everything) == list(range(450))
    small = split_indices(5, seed=0)
    assert min(len(v) for v in small.values()) >= 1


def _equivalent_cell(structure, seed):
    """The same crystal in another basis, orientation, site order and images."""
    rng = np.random.default_rng(seed)
    other = structure.copy()
    other.make_supercell([[1, 1, 0], [0, 1, 0], [-1, 0, 1]])  # det 1: same cell
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(rotation) < 0:
        rotation = -rotation
    order = rng.permutation(len(other))
    shifts = rng.integers(-2, 3, size=(len(other), 3))
    return Structure(
        Lattice(other.lattice.matrix @ rotation.T),
        [other.species[k] for k in order],
        other.frac_coords[order] + shifts,
    )


def test_niggli_equivalent_cells_give_identical_inputs(seed_structures):
    for k, structure in enumerate(seed_structures):
        one = structure_to_data(structure)
        two = structure_to_data(_equivalent_cell(structure, k))
        assert torch.equal(one.atom_types, two.atom_types)
        assert torch.equal(one.num_atoms, two.num_atoms)
        for key in ("frac_coords", "lattice", "lengths", "angles"):
            assert torch.allclose(one[key], two[key], atol=1e-4), (k, key)
        # the canonical cell holds the same crystal
        back = data_to_structure(one.atom_types, one.frac_coords, one.lattice[0])
        assert StructureMatcher().fit(back, structure)
    # the raw cell, as before CDVAE's reading, does differ
    raw = structure_to_data(seed_structures[0], canonical=False)
    other = structure_to_data(_equivalent_cell(seed_structures[0], 0), canonical=False)
    assert not torch.allclose(raw.lengths, other.lengths, atol=1e-4)


def test_canonical_cell_is_niggli_reduced_from_its_parameters(seed_structures):
    for structure in seed_structures:
        cell = canonical_structure(structure)
        reduced = structure.lattice.get_niggli_reduced_lattice()
        np.testing.assert_allclose(
            sorted(cell.lattice.abc), sorted(reduced.abc), atol=1e-3
        )
        expected = Lattice.from_parameters(*cell.lattice.parameters).matrix
        np.testing.assert_allclose(cell.lattice.matrix, expected, atol=1e-8)


def test_neighbour_cap_keeps_the_nearest_and_their_ties(seed_structures):
    batch = Batch.from_data_list([structure_to_data(s) for s in seed_structures])
    args = (batch.frac_coords, batch.lattice, batch.num_atoms, 7.0)
    full = periodic_edges(*args)
    capped = periodic_edges(*args, max_neighbors=6)
    for atom in range(len(batch.frac_coords)):
        mine = capped.distances[capped.src == atom]
        every = torch.sort(full.distances[full.src == atom]).values
        assert len(mine) >= min(6, len(every))
        # the nearest six, and any others as near as the sixth
        kth = every[min(6, len(every)) - 1]
        assert torch.equal(torch.sort(mine).values, every[every <= kth + 1e-3])
