"""Diagnostics of a trained generator: what fails, the denoiser or the heads.

- reconstruction (CDVAE's ``evaluate.py --tasks recon``) of training and
  test crystals, once with the atom count and composition the heads predict
  and once with the true ones forced (``--force_num_atoms
  --force_atom_types``): a model that matches with forced compositions but
  not with predicted ones has a weak composition or atom-count head, one
  that fails both has a weak denoiser (or lattice head);
- the coverage of the test split by the training split (COV-R / COV-P with
  the same fingerprints and cut-offs as the generated crystals'): the ceiling
  a generator reproducing its training crystals would reach;
- the SMACT rates of both splits, the reference for the generated rate.

Pure functions: model and crystals in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pymatgen.core import Structure
from torch_geometric.data import Data

from matforge.ml.metrics import (
    coverage_ceiling,
    fingerprints,
    reconstruction,
    smact_rate,
)
from matforge.ml.model import CrystalDiffusionVAE
from matforge.ml.sample import (
    SamplingSettings,
    crystal_generator,
    head_compositions,
    reconstruct_crystals,
)

RECONSTRUCTION_MODES = {
    "predicted": {"force_num_atoms": False, "force_atom_types": False},
    "forced": {"force_num_atoms": True, "force_atom_types": True},
}
"""Reconstruction modes: heads' atom count and composition, or the true ones."""


def reconstruction_table(
    model: CrystalDiffusionVAE,
    graphs: Sequence[Data],
    structures: Sequence[Structure],
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
    modes: Sequence[str] = tuple(RECONSTRUCTION_MODES),
) -> dict[str, dict[str, float]]:
    """Return reconstruction figures of crystals, per mode.

    Parameters
    ----------
    model
        A trained model.
    graphs, structures
        The crystals as graphs and as structures (the match targets).
    seed
        Seed of the decoding.
    settings
        Sampling settings.
    device
        ``cpu`` or ``cuda``.
    modes
        Keys of :data:`RECONSTRUCTION_MODES`.

    Returns
    -------
    dict[str, dict[str, float]]
        Per mode: :func:`matforge.ml.metrics.reconstruction`'s figures and
        ``num_atoms_accuracy`` / ``composition_accuracy`` (shares decoded
        with the true atom count / the true composition, cell for cell); the
        predicted mode adds :func:`head_accuracy`'s figures.
    """
    table: dict[str, dict[str, float]] = {}
    heads = head_accuracy(model, graphs, seed, settings, device)
    for mode in modes:
        if mode not in RECONSTRUCTION_MODES:
            raise ValueError(
                f"unknown reconstruction mode {mode!r}; expected one of "
                f"{', '.join(RECONSTRUCTION_MODES)}"
            )
        decoded = reconstruct_crystals(
            model, graphs, seed, settings, device, **RECONSTRUCTION_MODES[mode]
        )
        row = reconstruction(decoded, structures)
        n = max(len(structures), 1)
        row["num_atoms_accuracy"] = (
            sum(len(d) == len(s) for d, s in zip(decoded, structures, strict=True)) / n
        )
        row["composition_accuracy"] = (
            sum(
                d.composition == s.composition
                for d, s in zip(decoded, structures, strict=True)
            )
            / n
        )
        row["crystals"] = len(structures)
        if mode == "predicted":
            row.update(heads)
        table[mode] = row
    return table


@torch.no_grad()
def head_accuracy(
    model: CrystalDiffusionVAE,
    graphs: Sequence[Data],
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
) -> dict[str, float]:
    """Return how often the heads alone give a crystal's atom count and composition.

    The atom count and the composition decoded from the heads at the latent
    mean (:func:`matforge.ml.sample.head_compositions`), before any Langevin
    step: ``head_num_atoms_accuracy`` and ``head_composition_accuracy``
    (composition at the true atom count, so the composition head is judged
    on its own). Beside the reconstruction's ``composition_accuracy`` (after
    the score network refined the types) it tells which one loses them.
    """
    from torch_geometric.loader import DataLoader

    dev = torch.device(device)
    model = model.to(dev).eval()
    count_ok = comp_ok = total = 0
    for cpu_data in DataLoader(list(graphs), batch_size=settings.batch_size):
        data = cpu_data.to(dev)
        mu, _ = model.encode_batch(data)
        generators = [crystal_generator(seed, total + k) for k in range(len(mu))]
        counts, _ = head_compositions(model, mu, generators, settings)
        _, types = head_compositions(
            model, mu, generators, settings, num_atoms=data.num_atoms
        )
        true_types = data.atom_types.cpu().split(data.num_atoms.cpu().tolist())
        for n, got, want, true_n in zip(
            counts, types, true_types, data.num_atoms.tolist(), strict=True
        ):
            count_ok += n == true_n
            comp_ok += torch.equal(torch.sort(got).values, torch.sort(want).values)
        total += len(mu)
    n = max(total, 1)
    return {
        "head_num_atoms_accuracy": count_ok / n,
        "head_composition_accuracy": comp_ok / n,
    }


def subset(n: int, size: int, seed: int) -> list[int]:
    """Return a seeded, sorted choice of ``min(size, n)`` of ``range(n)``."""
    if size >= n:
        return list(range(n))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n, size, replace=False))


def generator_diagnostics(
    model: CrystalDiffusionVAE,
    train: tuple[Sequence[Data], Sequence[Structure]],
    test: tuple[Sequence[Data], Sequence[Structure]],
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
    max_train: int | None = None,
) -> dict[str, Any]:
    """Return the diagnostics of a trained generator.

    Parameters
    ----------
    model
        A trained model.
    train, test
        Graphs and structures of the training and test splits.
    seed
        Seed of the decoding (and of the training subset).
    settings
        Sampling settings of the reconstructions.
    device
        ``cpu`` or ``cuda``.
    max_train
        Reconstruct at most this many training crystals (a seeded subset);
        None for all. The coverage ceiling and the SMACT rate use all.

    Returns
    -------
    dict
        ``reconstruction`` (``train`` / ``test`` -> mode -> figures, see
        :func:`reconstruction_table`), ``ceiling`` (COV-R / COV-P of the
        training split against the test split), ``smact`` (SMACT rate of
        each split) and ``sizes``.
    """
    train_graphs, train_structures = train
    test_graphs, test_structures = test
    picks = subset(len(train_graphs), max_train or len(train_graphs), seed)
    recon = {
        "train": reconstruction_table(
            model,
            [train_graphs[i] for i in picks],
            [train_structures[i] for i in picks],
            seed,
            settings,
            device,
        ),
        "test": reconstruction_table(
            model, test_graphs, test_structures, seed, settings, device
        ),
    }
    ceiling = coverage_ceiling(
        train_structures,
        test_structures,
        fingerprints(train_structures),
        fingerprints(test_structures),
    )
    return {
        "reconstruction": recon,
        "ceiling": ceiling,
        "smact": {
            "train": smact_rate(train_structures),
            "test": smact_rate(test_structures),
        },
        "sizes": {
            "train": len(train_graphs),
            "train_reconstructed": len(picks),
            "test": len(test_graphs),
        },
    }
