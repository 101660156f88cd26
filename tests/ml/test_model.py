import io
import json

import pytest
import torch
from torch_geometric.data import Batch

from matforge.ml.data import structure_to_data
from matforge.ml.model import CrystalDiffusionVAE


def tiny_model(**overrides) -> CrystalDiffusionVAE:
    torch.manual_seed(0)
    config = {
        "hidden_dim": 16,
        "latent_dim": 8,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "num_basis": 8,
        "cutoff": 4.0,
        "num_noise_levels": 5,
    }
    config.update(overrides)
    return CrystalDiffusionVAE(**config).double().eval()


def _batch(structures):
    batch = Batch.from_data_list([structure_to_data(s) for s in structures])
    batch.frac_coords = batch.frac_coords.double()
    batch.lattice = batch.lattice.double()
    return batch


def _encode(model, b, frac=None, lattice=None, types=None):
    return model.encode(
        b.atom_types if types is None else types,
        b.frac_coords if frac is None else frac,
        b.lattice if lattice is None else lattice,
        b.num_atoms,
        b.batch,
    )


def _rotation(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(3, 3, generator=torch.Generator().manual_seed(seed)).double()
    )
    return q


@pytest.mark.parametrize("encoder_composition", [False, True])
def test_encoder_is_invariant(seed_structures, encoder_composition):
    model = tiny_model(encoder_composition=encoder_composition)
    b = _batch(seed_structures[:4])
    mu, log_var = _encode(model, b)
    # rotation (or reflection) of the whole crystal: lattice rows rotate
    rot = _rotation(1)
    mu_r, lv_r = _encode(model, b, lattice=b.lattice @ rot.T)
    assert torch.allclose(mu, mu_r, atol=1e-8)
    assert torch.allclose(log_var, lv_r, atol=1e-8)
    # translation of all atoms of a crystal
    shift = torch.tensor([0.31, -0.17, 0.55], dtype=torch.float64)
    mu_t, _ = _encode(model, b, frac=torch.remainder(b.frac_coords + shift, 1.0))
    assert torch.allclose(mu, mu_t, atol=1e-8)
    # another periodic image of every atom
    images = torch.randint(-3, 4, b.frac_coords.shape).double()
    mu_i, _ = _encode(model, b, frac=b.frac_coords + images)
    assert torch.allclose(mu, mu_i, atol=1e-8)
    # permutation of the atoms within each crystal
    perm = torch.cat(
        [
            start + torch.randperm(int(n), generator=torch.Generator().manual_seed(2))
            for start, n in zip(
                torch.cumsum(b.num_atoms, 0) - b.num_atoms, b.num_atoms, strict=True
            )
        ]
    )
    mu_p, _ = _encode(model, b, frac=b.frac_coords[perm], types=b.atom_types[perm])
    assert torch.allclose(mu, mu_p, atol=1e-8)


def test_encoder_composition_tells_a_supercell_from_its_cell(seed_structures):
    """Mean-pooled atom features cannot tell a cell from its supercell; the
    encoder that also reads the composition and atom count can."""
    cell = seed_structures[0]
    supercell = cell.copy()
    supercell.make_supercell([2, 1, 1])
    for flag, same in ((False, True), (True, False)):
        model = tiny_model(encoder_composition=flag, max_atoms=4 * len(cell))
        mu, _ = _encode(model, _batch([cell, supercell]))
        assert torch.allclose(mu[0], mu[1], atol=1e-8) is same, flag
    # the flag goes into the config and back through a checkpoint
    model = tiny_model(encoder_composition=True).float()
    loaded = CrystalDiffusionVAE.from_bytes(model.to_bytes())
    assert loaded.config()["encoder_composition"] is True
    b = Batch.from_data_list([structure_to_data(s) for s in seed_structures[:3]])
    assert torch.equal(_encode(loaded, b)[0], _encode(model, b)[0])
    # a checkpoint written before these options loads as the model it was
    old = tiny_model().float()
    checkpoint = old.checkpoint()
    config = json.loads(checkpoint["config"])
    del config["encoder_composition"], config["detach_lattice"], config["decoder"]
    checkpoint["config"] = json.dumps(config)
    again = CrystalDiffusionVAE.from_checkpoint(checkpoint)
    assert again.config()["encoder_composition"] is False
    assert again.config()["decoder"] == "invariant"
    assert torch.equal(_encode(again, b)[0], _encode(old, b)[0])
    # an equivariant model's extra weights go through a checkpoint and back
    directional = tiny_model(decoder="equivariant").float()
    reloaded = CrystalDiffusionVAE.from_bytes(directional.to_bytes())
    assert reloaded.config()["decoder"] == "equivariant"
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    sigma = torch.full((len(b.frac_coords),), 0.3)
    args = (z, b.atom_types, b.frac_coords, b.lattice, b.num_atoms, b.batch, sigma)
    assert torch.equal(reloaded.score(*args)[0], directional.score(*args)[0])


def _score(model, b, z, frac, lattice, types=None):
    sigma = torch.full((len(frac),), 0.3, dtype=torch.float64)
    return model.score(
        z,
        b.atom_types if types is None else types,
        frac,
        lattice,
        b.num_atoms,
        b.batch,
        sigma,
    )


@pytest.mark.parametrize("decoder", ["invariant", "equivariant"])
def test_coordinate_score_rotates_with_the_crystal(seed_structures, decoder):
    model = tiny_model(decoder=decoder)
    b = _batch(seed_structures[:3])
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(3)).double()
    frac = torch.remainder(b.frac_coords + 0.05 * torch.randn_like(b.frac_coords), 1)
    score, logits = _score(model, b, z, frac, b.lattice)
    assert score.abs().max() > 0
    rot = _rotation(4)
    score_r, logits_r = _score(model, b, z, frac, b.lattice @ rot.T)
    assert torch.allclose(score_r, score @ rot.T, atol=1e-8)
    assert torch.allclose(logits_r, logits, atol=1e-8)
    # invariant to a translation and to the choice of periodic image
    moved = torch.remainder(frac + torch.tensor([0.2, 0.4, 0.6]).double(), 1.0) + 1.0
    score_t, _ = _score(model, b, z, moved, b.lattice)
    assert torch.allclose(score_t, score, atol=1e-8)


def _bent_triatomic(angle_deg: float):
    """Frac coords of an A-B-A unit in a large cube, bond angle ``angle_deg``
    at B, both bonds 1.5 A: every B-A distance is the same at any angle."""
    length = 20.0
    half = torch.deg2rad(torch.tensor(angle_deg, dtype=torch.float64)) / 2
    centre = torch.tensor([10.0, 10.0, 10.0], dtype=torch.float64)
    arm = 1.5 * torch.stack([torch.sin(half), torch.cos(half), torch.zeros(())])
    mirrored = arm * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    cart = torch.stack([centre, centre + arm, centre + mirrored])
    return cart / length, torch.eye(3, dtype=torch.float64)[None] * length


def test_equivariant_decoder_sees_bond_angles():
    """B's own features see only its two equal bond lengths to distance-only
    messages, so with a cut-off that leaves A-A out, B's type logits cannot
    depend on the bond angle; vector features make them depend on it."""
    z = torch.zeros(1, 8, dtype=torch.float64)
    types = torch.tensor([3, 1, 1])  # B first
    num_atoms = torch.tensor([3])
    batch = torch.zeros(3, dtype=torch.long)
    sigma = torch.full((3,), 0.3, dtype=torch.float64)
    for decoder, differs in (("invariant", False), ("equivariant", True)):
        # cut-off 2.0 A: the A-A distances (2.6 and 2.9 A) are outside it
        model = tiny_model(decoder=decoder, cutoff=2.0)
        logits = []
        for angle in (120.0, 150.0):
            frac, lattice = _bent_triatomic(angle)
            _, out = model.score(z, types, frac, lattice, num_atoms, batch, sigma)
            logits.append(out[0])
        gap = (logits[0] - logits[1]).abs().max().item()
        assert (gap > 1e-6) is differs, (decoder, gap)


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder"):
        tiny_model(decoder="gemnet")


def test_checkpoint_round_trips_exactly(seed_structures):
    model = tiny_model(beta=0.05, cost_coord=3.0).float()
    model.set_normalisers(torch.arange(6.0), torch.ones(6) * 2, 0.1, 0.02)
    payload = model.to_bytes()
    # plain tensors, strings and numbers only: loadable without pickle
    checkpoint = torch.load(io.BytesIO(payload), weights_only=True)
    assert isinstance(checkpoint["config"], str)
    loaded = CrystalDiffusionVAE.from_bytes(payload)
    assert loaded.config() == model.config()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    z = torch.randn(2, 8)
    assert torch.equal(loaded.predict_storage_score(z), model.predict_storage_score(z))
    with pytest.raises(ValueError, match="format"):
        CrystalDiffusionVAE.from_checkpoint({**checkpoint, "format": 99})


def test_losses_are_finite_and_logged(seed_structures):
    model = tiny_model().float().train()
    b = Batch.from_data_list([structure_to_data(s, 0.1) for s in seed_structures])
    out = model.loss(b, torch.Generator().manual_seed(0))
    expected = {"loss", "kl", "natom", "lattice", "composition", "coord", "type"}
    assert expected | {"property"} == set(out)
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()


@pytest.mark.parametrize("detach", [False, True])
def test_detached_lattice_head_learns_from_its_own_loss_only(seed_structures, detach):
    """Without teacher forcing the score network denoises in the predicted
    lattice; detach_lattice keeps that loss's gradient off the lattice head."""
    model = tiny_model(
        detach_lattice=detach, cost_lattice=0.0, cost_natom=0.0, beta=0.0
    ).float()
    # normalisers of real cells, so no decoded length or angle sits at a clamp
    model.set_normalisers(
        torch.tensor([2.0, 2.2, 2.8, 87.0, 87.0, 90.0]),
        torch.tensor([0.4, 0.4, 0.9, 16.0, 17.0, 20.0]),
        0.0,
        1.0,
    )
    model.train()
    b = Batch.from_data_list([structure_to_data(s) for s in seed_structures[:4]])
    out = model.loss(b, torch.Generator().manual_seed(0), teacher_forcing=False)
    out["loss"].backward()
    grad = sum(p.grad.abs().sum() for p in model.fc_lattice.parameters())
    assert bool(grad == 0) is detach
    # the score network trains either way
    assert sum(p.grad.abs().sum() for p in model.dec_blocks.parameters()) > 0
