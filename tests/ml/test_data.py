import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from matforge.ml.data import (
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
