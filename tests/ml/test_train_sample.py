import torch
from torch_geometric.data import Batch

from matforge.ml.data import structure_to_data
from matforge.ml.model import CrystalDiffusionVAE
from matforge.ml.sample import (
    SamplingSettings,
    largest_remainder_counts,
    sample_crystals,
)
from matforge.ml.train import train_model

TINY = {
    "hidden_dim": 16,
    "latent_dim": 8,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "num_basis": 8,
    "cutoff": 4.0,
    "num_noise_levels": 4,
    "max_atoms": 8,
}


def _tiny() -> CrystalDiffusionVAE:
    torch.manual_seed(0)
    model = CrystalDiffusionVAE(**TINY)
    # realistic cells before training: about 2.5 A per atom^(1/3), near-right angles
    model.set_normalisers(
        torch.tensor([2.5, 2.5, 2.5, 90.0, 90.0, 90.0]),
        torch.tensor([0.2, 0.2, 0.2, 5.0, 5.0, 5.0]),
        0.05,
        0.02,
    )
    return model


def _head_errors(model, graphs):
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        mu, _ = model.encode(
            batch.atom_types,
            batch.frac_coords,
            batch.lattice,
            batch.num_atoms,
            batch.batch,
        )
        heads = model.heads(mu)
        natom_ok = (heads.num_atoms_logits.argmax(-1) == batch.num_atoms).float()
        lengths, _angles = model.decode_lattice(heads.lattice, batch.num_atoms)
    return float(natom_ok.mean()), float((lengths - batch.lengths).abs().mean())


def test_a_tiny_set_is_overfitted(seed_structures):
    small = [seed_structures[i] for i in (0, 3, 5)]  # 4, 8 and 3 atoms
    graphs = [structure_to_data(s, 0.05 * k) for k, s in enumerate(small)]
    model = _tiny()
    result = train_model(
        model, graphs, [], epochs=80, learning_rate=5e-3, patience=80, seed=0
    )
    first, last = result.history[0], result.history[-1]
    # (the denoising loss draws a fresh noise level every step: too noisy to compare)
    assert last["train_lattice"] < 0.25 * first["train_lattice"]
    assert last["train_natom"] < 0.2 * first["train_natom"]
    assert last["train_composition"] < first["train_composition"] - 0.5
    natom_acc, length_err = _head_errors(model, graphs)
    assert natom_acc == 1.0
    assert length_err < 0.75


def test_early_stopping_keeps_the_best_epoch(seed_structures):
    graphs = [structure_to_data(s) for s in seed_structures]
    model = _tiny()
    result = train_model(
        model, graphs[:8], graphs[8:], epochs=12, patience=2, learning_rate=0.05
    )
    assert result.epochs_run <= 12
    best = min(row["val_loss"] for row in result.history)
    assert result.best_val_loss == best
    if result.stopped_early:
        assert result.epochs_run == result.best_epoch + 3


def test_a_fixed_seed_gives_identical_samples():
    model = _tiny().eval()
    settings = SamplingSettings(steps_per_level=2, batch_size=3)
    one = sample_crystals(model, 5, seed=11, settings=settings)
    two = sample_crystals(model, 5, seed=11, settings=settings)
    other = sample_crystals(model, 5, seed=12, settings=settings)
    assert len(one) == 5
    for a, b in zip(one, two, strict=True):
        assert a.structure == b.structure
        assert a.z == b.z
    assert [s.z for s in one] != [s.z for s in other]
    for sample in one:
        assert 1 <= len(sample.structure) <= model.max_atoms
        assert sample.structure.volume > 0


def test_guidance_raises_the_predicted_score():
    model = _tiny().eval()
    plain = sample_crystals(model, 6, 0, SamplingSettings(steps_per_level=1))
    guided = sample_crystals(
        model, 6, 0, SamplingSettings(steps_per_level=1, guided=True, guide_steps=30)
    )
    mean = sum(s.predicted_storage_score for s in plain) / 6
    mean_guided = sum(s.predicted_storage_score for s in guided) / 6
    assert mean_guided > mean


def test_largest_remainder_counts():
    probs = torch.tensor([0.5, 0.3, 0.2, 0.0])
    assert largest_remainder_counts(probs, 7).tolist() == [4, 2, 1, 0]
    assert int(largest_remainder_counts(probs, 3, 0.7).sum()) == 3
    assert largest_remainder_counts(probs, 3, 0.7).tolist() == [2, 1, 0, 0]
