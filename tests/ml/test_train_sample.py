import pytest
import torch
from torch_geometric.data import Batch

from matforge.ml.data import structure_to_data
from matforge.ml.metrics import reconstruction
from matforge.ml.model import CrystalDiffusionVAE
from matforge.ml.runtime import torch_threads
from matforge.ml.sample import (
    SamplingSettings,
    reconstruct_crystals,
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
        mu, _ = model.encode_batch(batch)
        heads = model.heads(mu)
        natom_ok = (heads.num_atoms_logits.argmax(-1) == batch.num_atoms).float()
        lengths, _angles = model.decode_lattice(heads.lattice, batch.num_atoms)
    return float(natom_ok.mean()), float((lengths - batch.lengths).abs().mean())


@pytest.fixture(scope="module")
def overfitted(shared_data_module):
    """A small model over-fitted on four small hydrides (about 10 s of CPU)."""
    import gzip
    import json

    from pymatgen.core import Structure

    with gzip.open(shared_data_module / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    # Li2HN, KHS, AcH3 and Ti2HC: 3 and 4 atoms
    crystals = [Structure.from_dict(records[i]["structure"]) for i in (0, 5, 15, 6)]
    graphs = [structure_to_data(s, 0.05 * k) for k, s in enumerate(crystals)]
    torch.manual_seed(0)
    model = CrystalDiffusionVAE(
        hidden_dim=32,
        latent_dim=8,
        num_encoder_layers=2,
        num_decoder_layers=2,
        num_basis=16,
        cutoff=5.0,
        num_noise_levels=20,
        max_atoms=8,
        max_neighbors=12,
    )
    # one thread: these tensors are tiny, and two threads on a busy machine
    # spin for many times the work
    with torch_threads(1):
        result = train_model(
            model,
            graphs,
            [],
            epochs=600,
            learning_rate=3e-3,
            patience=600,
            batch_size=4,
        )
    return model, graphs, crystals, result


def test_an_overfitted_model_reconstructs_its_crystals(overfitted):
    model, graphs, crystals, result = overfitted
    first, last = result.history[0], result.history[-1]
    # the heads learn the few crystals
    assert last["train_lattice"] < 0.25 * first["train_lattice"]
    assert last["train_natom"] < 0.05 * first["train_natom"]
    natom_acc, length_err = _head_errors(model, graphs)
    assert natom_acc == 1.0
    assert length_err < 0.5
    # and, given their compositions (CDVAE's --force_atom_types), the
    # denoiser puts the atoms back where they were
    settings = SamplingSettings(steps_per_level=10)
    rebuilt = reconstruct_crystals(model, graphs, 0, settings, force_atom_types=True)
    assert [r.composition for r in rebuilt] == [c.composition for c in crystals]
    assert reconstruction(rebuilt, crystals)["match_rate"] >= 0.75


def test_the_ancestral_sampler_reconstructs_in_one_step_per_level(overfitted):
    model, graphs, crystals, _ = overfitted
    settings = SamplingSettings(steps_per_level=1, sampler="ancestral")
    rebuilt = reconstruct_crystals(model, graphs, 0, settings, force_atom_types=True)
    assert reconstruction(rebuilt, crystals)["match_rate"] >= 0.75


def test_teacher_forcing_ends_halfway(overfitted):
    history = overfitted[3].history
    forced = [row["teacher_forcing"] for row in history]
    assert forced == [1.0] * 300 + [0.0] * 300


def test_early_stopping_keeps_the_best_epoch(seed_structures):
    graphs = [structure_to_data(s) for s in seed_structures]
    model = _tiny()
    result = train_model(
        model, graphs[:8], graphs[8:], epochs=12, patience=2, learning_rate=0.05
    )
    assert result.epochs_run <= 12
    # chosen among the epochs after teacher forcing (the second half)
    after = [row for row in result.history if not row["teacher_forcing"]]
    assert result.best_epoch >= 6
    assert result.best_val_loss == min(row["monitored"] for row in after)
    # CDVAE's selection: the validation coordinate + type loss
    row = result.history[result.best_epoch]
    assert row["monitored"] == pytest.approx(10 * row["val_coord"] + row["val_type"])
    if result.stopped_early:
        # never before teacher forcing ends (half of the 12 epochs)
        assert result.epochs_run - 1 - max(result.best_epoch, 5) == 2


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


def test_diagnostics_tell_the_heads_from_the_denoiser(overfitted):
    from matforge.ml.diagnostics import generator_diagnostics

    model, graphs, crystals, _ = overfitted
    found = generator_diagnostics(
        model,
        (graphs, crystals),
        (graphs[:2], crystals[:2]),
        0,
        SamplingSettings(steps_per_level=10),
        max_train=3,
    )
    assert found["sizes"] == {"train": 4, "train_reconstructed": 3, "test": 2}
    for split in ("train", "test"):
        forced = found["reconstruction"][split]["forced"]
        assert forced["composition_accuracy"] == 1.0
        assert forced["num_atoms_accuracy"] == 1.0
        assert set(found["reconstruction"][split]) == {"predicted", "forced"}
    # the heads alone give the over-fitted crystals' atom counts
    assert found["reconstruction"]["train"]["predicted"]["head_num_atoms_accuracy"] == 1
    # the test crystals are training crystals here: the ceiling is full recall
    assert found["ceiling"]["cov_r"] == 1.0
    assert 0.0 <= found["smact"]["train"] <= 1.0


class _PointScore(CrystalDiffusionVAE):
    """The exact score of noise about fixed fractional coordinates (one crystal)."""

    target: torch.Tensor

    def score(self, z, atom_types, frac_coords, lattice, num_atoms, batch, sigma):
        diff = self.target - frac_coords
        diff = diff - torch.round(diff)
        cart = torch.einsum("ni,nij->nj", diff, lattice[batch])
        return cart / sigma[:, None] ** 2, torch.zeros(len(atom_types), 100)


@pytest.mark.parametrize("steps", [1, 3])
def test_the_ancestral_sampler_ends_on_the_point_its_score_leads_to(steps):
    from matforge.ml.sample import crystal_generator, langevin_decode

    torch.manual_seed(0)
    model = _PointScore(**(TINY | {"num_noise_levels": 20})).eval()
    target = torch.tensor([[0.1, 0.2, 0.3], [0.6, 0.55, 0.9], [0.35, 0.8, 0.05]])
    model.target = target
    forced = {"num_atoms": torch.tensor([3]), "atom_types": torch.tensor([1, 3, 1])}
    ends = {}
    for sampler in ("ancestral", "langevin"):
        settings = SamplingSettings(
            sampler=sampler, steps_per_level=steps, decode_types=False
        )
        (crystal,) = langevin_decode(
            model, torch.zeros(1, 8), [crystal_generator(0, 0)], settings, **forced
        )
        diff = torch.tensor(crystal.frac_coords, dtype=target.dtype) - target
        ends[sampler] = (diff - torch.round(diff)).abs().max().item()
    # the last reverse-diffusion step only denoises: it lands on the point
    assert ends["ancestral"] < 2e-4
    # a Langevin step adds sqrt(2) sigma_min of noise after its jump
    assert ends["langevin"] > 1e-3


def test_an_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="sampler"):
        SamplingSettings(sampler="euler")


def test_the_sampler_does_not_change_the_model_id():
    from matforge.settings import GeneratorSettings

    plain = GeneratorSettings()
    other = GeneratorSettings(sampler="ancestral", steps_per_level=3)
    assert plain.training_dump() == other.training_dump()
    assert "sampler" not in plain.training_dump()
    assert plain.model_dump() != other.model_dump()
    assert plain.training_dump() != GeneratorSettings(beta=0.05).training_dump()
