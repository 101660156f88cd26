"""Sampling: latent -> atom count, lattice, composition -> annealed Langevin.

Optionally (``guided``), the latents are first moved by gradient ascent on
the property head, as in CDVAE's property optimisation, to favour a high
predicted storage score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pymatgen.core import Structure
from torch import Tensor

from matforge.ml.composition import decode_composition
from matforge.ml.data import data_to_structure, lattice_params_to_matrix
from matforge.ml.model import CrystalDiffusionVAE


@dataclass(frozen=True)
class SamplingSettings:
    """How candidates are drawn (stored with every generated document).

    ``composition`` picks how the atom types are decoded from the heads:
    ``balanced`` (default) draws the integer composition and atom count from
    CDVAE's per-atom law conditioned on charge balance
    (:func:`matforge.ml.composition.decode_composition`;
    ``draw_composition=False`` takes the most probable one instead),
    ``multinomial`` draws every atom's type from the composition (CDVAE) and
    ``counts`` rounds the composition to the atom count by largest remainder.
    All of them decode over the model's element vocabulary only.
    ``composition_temperature`` divides the composition head's logits first
    (CDVAE: 1); below 1 it sharpens a blurred composition. ``decode_types``
    lets the score network's type logits replace the types at every Langevin
    step, as CDVAE does.
    ``hydride_redraws`` > 0 conditions the decoded compositions on holding
    hydrogen and a metal (the platform's scope): the multinomial draw of a
    crystal without both is redrawn up to that many times (rejection sampling
    of the conditional law; the last draw stays when none has both) and the
    balanced decoding renormalises over such compositions; 0 is CDVAE's
    unconditioned draw.
    """

    steps_per_level: int = 2
    step_lr: float = 1e-4
    batch_size: int = 100
    guided: bool = False
    guide_steps: int = 100
    guide_lr: float = 0.05
    guide_prior_weight: float = 0.1
    decode_types: bool = False
    composition: str = "balanced"
    draw_composition: bool = True
    composition_temperature: float = 1.0
    min_expected_atoms: float = 0.25
    hydride_redraws: int = 64


@dataclass
class Sample:
    """One generated crystal with the latent it came from."""

    structure: Structure
    z: list[float]
    predicted_storage_score: float


def largest_remainder_counts(
    probs: Tensor, total: int, min_expected_atoms: float = 0.0
) -> Tensor:
    """Return integer counts summing to ``total`` that follow ``probs`` best.

    Elements expected to hold fewer than ``min_expected_atoms`` atoms are
    dropped first (the most probable element always stays), so a blurred
    composition head does not sprinkle single atoms of many elements.
    """
    keep = probs * total >= min_expected_atoms
    keep[torch.argmax(probs)] = True
    probs = torch.where(keep, probs, torch.zeros_like(probs))
    probs = probs / probs.sum()
    exact = probs * total
    counts = torch.floor(exact).long()
    missing = total - int(counts.sum())
    if missing > 0:
        order = torch.argsort(exact - counts, descending=True)
        counts[order[:missing]] += 1
    return counts


def draw_types(
    probs: Tensor, num_atoms: Tensor, generator: torch.Generator, hydride: int = 0
) -> Tensor:
    """Draw every atom's type from its crystal's composition (CDVAE).

    Parameters
    ----------
    probs
        ``(B, MAX_Z)`` composition of each crystal.
    num_atoms
        ``(B,)`` atom counts.
    generator
        Random generator on ``probs``' device.
    hydride
        Redraw a crystal that lacks hydrogen or a metal up to this many times.

    Returns
    -------
    Tensor
        Atomic numbers, crystal after crystal.
    """
    from pymatgen.core import Element

    from matforge.core.chemistry import is_metal

    device = probs.device
    crystal = torch.repeat_interleave(
        torch.arange(len(probs), device=device), num_atoms
    )
    types = torch.multinomial(probs[crystal], 1, generator=generator).squeeze(-1) + 1
    if not hydride:
        return types
    metal = torch.tensor(
        [is_metal(Element.from_Z(zz).symbol) for zz in range(1, probs.shape[-1] + 1)],
        device=device,
    )
    starts = torch.cumsum(num_atoms, 0) - num_atoms
    for i in range(len(probs)):
        lo, n = int(starts[i]), int(num_atoms[i])
        for _ in range(hydride):
            own = types[lo : lo + n]
            if (own == 1).any() and metal[own - 1].any():
                break
            types[lo : lo + n] = (
                torch.multinomial(probs[i], n, replacement=True, generator=generator)
                + 1
            )
    return types


def guide_latents(
    model: CrystalDiffusionVAE,
    z: Tensor,
    steps: int,
    learning_rate: float,
    prior_weight: float,
) -> Tensor:
    """Move latents uphill on the property head, held near the prior.

    Maximises ``score(z) / std - prior_weight * |z|^2 / 2`` with Adam.
    """
    z = z.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=learning_rate)
    for _ in range(steps):
        optimiser.zero_grad()
        objective = model.fc_property(z).squeeze(-1) - prior_weight * 0.5 * (z**2).sum(
            -1
        )
        (-objective.sum()).backward()
        optimiser.step()
    return z.detach()


@torch.no_grad()
def langevin_decode(
    model: CrystalDiffusionVAE,
    z: Tensor,
    generator: torch.Generator,
    settings: SamplingSettings,
    num_atoms: Tensor | None = None,
) -> list[Structure]:
    """Decode latents into crystals by annealed Langevin dynamics.

    Parameters
    ----------
    model
        A trained model (eval mode).
    z
        ``(B, latent_dim)`` latents.
    generator
        Random generator on ``z``'s device.
    settings
        Steps per noise level and step size.
    num_atoms
        Atom counts to use instead of the atom-count head's.

    Returns
    -------
    list[Structure]
        One crystal per latent.
    """
    device = z.device
    heads = model.heads(z)
    logits = heads.composition_logits / settings.composition_temperature
    logits = logits.masked_fill(model.element_mask <= 0, -math.inf)
    probs = torch.softmax(logits, dim=-1)
    count_logits = heads.num_atoms_logits.clone()
    count_logits[:, 0] = -math.inf
    if num_atoms is not None:
        count_probs = torch.nn.functional.one_hot(
            num_atoms, count_logits.shape[-1]
        ).double()
    else:
        count_probs = torch.softmax(count_logits.double(), dim=-1)
    if settings.composition == "balanced":
        decoded = [
            decode_composition(
                p,
                q,
                generator=generator if settings.draw_composition else None,
                hydride=settings.hydride_redraws > 0,
            )
            for p, q in zip(probs, count_probs, strict=True)
        ]
        num_atoms = torch.tensor([n for n, _ in decoded], device=device)
        types = torch.tensor(
            [z_ for _, counts in decoded for z_, c in counts.items() for _ in range(c)],
            device=device,
        )
    else:
        num_atoms = count_probs.argmax(-1)
    lengths, angles = model.decode_lattice(heads.lattice, num_atoms)
    lattice = lattice_params_to_matrix(lengths, angles)
    if settings.composition == "multinomial":
        # CDVAE: every atom's type drawn from the crystal's composition.
        types = draw_types(
            probs, num_atoms, generator, hydride=settings.hydride_redraws
        )
    elif settings.composition == "counts":
        types = torch.cat(
            [
                torch.repeat_interleave(
                    torch.arange(1, probs.shape[-1] + 1, device=device),
                    largest_remainder_counts(p, int(n), settings.min_expected_atoms),
                )
                for p, n in zip(probs, num_atoms, strict=True)
            ]
        )
    elif settings.composition != "balanced":
        raise ValueError(f"unknown composition decoding {settings.composition!r}")
    batch = torch.repeat_interleave(torch.arange(len(z), device=device), num_atoms)
    frac = torch.rand((len(types), 3), generator=generator, device=device)
    sigma_min = model.sigmas[-1]
    for sigma in model.sigmas:
        step = settings.step_lr * (sigma / sigma_min) ** 2
        sigma_atoms = sigma.expand(len(types))
        for _ in range(settings.steps_per_level):
            noise = torch.randn(frac.shape, generator=generator, device=device)
            score, type_logits = model.score(
                z, types, frac, lattice, num_atoms, batch, sigma_atoms
            )
            delta = step * score + torch.sqrt(2 * step) * noise
            frac = torch.remainder(
                frac
                + torch.einsum("ni,nij->nj", delta, torch.linalg.inv(lattice)[batch]),
                1.0,
            )
            if settings.decode_types:
                types = type_logits.argmax(-1) + 1
    structures = []
    for k in range(len(num_atoms)):
        mask = batch == k
        structures.append(data_to_structure(types[mask], frac[mask], lattice[k]))
    return structures


def sample_crystals(
    model: CrystalDiffusionVAE,
    num_samples: int,
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> list[Sample]:
    """Draw ``num_samples`` crystals from the prior (or guided latents).

    The same model, seed and settings give the same crystals.

    Parameters
    ----------
    model
        A trained model.
    num_samples
        How many crystals.
    seed
        Seed of the latents and the Langevin noise.
    settings
        Sampling settings.
    device
        ``cpu`` or ``cuda``.
    progress
        Called with the number of crystals finished after every batch.

    Returns
    -------
    list[Sample]
        The crystals, their latents and predicted storage scores.
    """
    dev = torch.device(device)
    model = model.to(dev).eval()
    generator = torch.Generator(device=dev).manual_seed(seed)
    samples: list[Sample] = []
    for start in range(0, num_samples, settings.batch_size):
        size = min(settings.batch_size, num_samples - start)
        z = torch.randn((size, model.latent_dim), generator=generator, device=dev)
        if settings.guided:
            with torch.enable_grad():
                z = guide_latents(
                    model,
                    z,
                    settings.guide_steps,
                    settings.guide_lr,
                    settings.guide_prior_weight,
                )
        structures = langevin_decode(model, z, generator, settings)
        with torch.no_grad():
            scores = model.predict_storage_score(z).tolist()
        for structure, latent, score in zip(
            structures, z.tolist(), scores, strict=True
        ):
            samples.append(Sample(structure, latent, float(score)))
        if progress is not None:
            progress(size)
    return samples


def reconstruct_crystals(
    model: CrystalDiffusionVAE,
    graphs: list[Any],
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
) -> list[Structure]:
    """Encode crystals to the mean of ``z`` and decode them again (CDVAE recon)."""
    from torch_geometric.loader import DataLoader

    dev = torch.device(device)
    model = model.to(dev).eval()
    generator = torch.Generator(device=dev).manual_seed(seed)
    out: list[Structure] = []
    for cpu_data in DataLoader(graphs, batch_size=settings.batch_size):
        data = cpu_data.to(dev)
        with torch.no_grad():
            mu, _ = model.encode(
                data.atom_types,
                data.frac_coords,
                data.lattice,
                data.num_atoms,
                data.batch,
            )
        out += langevin_decode(model, mu, generator, settings)
    return out
