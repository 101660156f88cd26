"""Sampling: latent -> atom count, lattice, composition -> annealed Langevin.

As CDVAE's ``langevin_dynamics``: the heads give the atom count, the lattice
and the composition; the composition is decoded into atom types (by default
CDVAE's rounded counts), the coordinates start uniform, and annealed
Langevin dynamics over the noise levels moves them along the predicted score
while the score network's type logits replace the types at every step.

Every crystal has a random generator of its own, seeded from the run's seed
and its index, for its latent, its composition, its start and its Langevin
noise: a crystal does not depend on the batch it was decoded in. Decoded
coordinates and lattices are rounded (1e-4 fractional, 1e-4 A) so their
content hash survives last-bit differences.

Optionally (``guided``), the latents are first moved by gradient ascent on
the property head, as in CDVAE's property optimisation, to favour a high
predicted storage score.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pymatgen.core import Lattice, Structure
from torch import Tensor

from matforge.ml.composition import (
    count_composition,
    decode_composition,
    largest_remainder_counts,
    multinomial_composition,
)
from matforge.ml.data import lattice_params_to_matrix
from matforge.ml.model import CrystalDiffusionVAE, HeadOutputs

COMPOSITIONS = ("cdvae", "multinomial", "balanced", "counts")
"""Composition decodings (:class:`SamplingSettings`)."""

SAMPLERS = ("langevin", "ancestral")
"""Coordinate samplers (:class:`SamplingSettings`)."""

DECIMALS = 4
"""Decimals kept of decoded fractional coordinates and lattice vectors (A)."""


@dataclass(frozen=True)
class SamplingSettings:
    """How candidates are drawn (stored with every generated document).

    ``composition`` picks how the atom types are decoded from the heads:
    ``cdvae`` (default) rounds ``p * N`` to counts and draws only the atoms
    the rounding leaves out (CDVAE's ``sample_composition``,
    :func:`matforge.ml.composition.count_composition`); ``multinomial`` draws
    every atom's type independently; ``balanced`` draws the integer
    composition and atom count from the per-atom law conditioned on charge
    balance (:func:`matforge.ml.composition.decode_composition`;
    ``draw_composition=False`` takes the most probable one); ``counts``
    rounds by largest remainder, dropping elements expected below
    ``min_expected_atoms`` atoms. All decode over the model's element
    vocabulary only. ``composition_temperature`` divides the composition
    head's logits first (CDVAE: 1). ``decode_types`` (CDVAE: on) lets the
    score network's type logits replace the types at every Langevin step.
    ``hydride_redraws`` > 0 conditions the decoded compositions on holding
    hydrogen and a metal (the platform's scope): the drawn atoms of a crystal
    without both are drawn again up to that many times, and the balanced
    decoding renormalises over such compositions; 0 is CDVAE's draw. With
    ``decode_types`` the score network may still change the types.

    ``sampler`` picks how the coordinates move down the noise levels.
    ``langevin`` is CDVAE's annealed Langevin dynamics: ``steps_per_level``
    steps of size ``step_lr * (sigma / sigma_min)**2`` at every level. With
    CDVAE's ``step_lr`` that step is ``sigma**2``, a full jump to the score
    network's denoised estimate followed by ``sqrt(2) sigma`` of fresh noise,
    so the network meets about 1.6 times the noise its level tells it.
    ``ancestral`` takes the reverse-diffusion step of the variance-exploding
    chain instead (Song et al., ICLR 2021): ``(sigma_i**2 - sigma_next**2)``
    times the score plus noise of that variance, so the coordinates carry the
    next level's noise; the last level only denoises. There
    ``steps_per_level - 1`` Langevin steps at each level come before it (the
    predictor-corrector sampler); one step per level is the predictor alone.
    """

    steps_per_level: int = 5
    step_lr: float = 1e-4
    batch_size: int = 250
    guided: bool = False
    guide_steps: int = 100
    guide_lr: float = 0.05
    guide_prior_weight: float = 0.1
    decode_types: bool = True
    composition: str = "cdvae"
    draw_composition: bool = True
    composition_temperature: float = 1.0
    min_expected_atoms: float = 0.25
    hydride_redraws: int = 0
    sampler: str = "langevin"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(
                f"unknown sampler {self.sampler!r}: expected one of {SAMPLERS}"
            )


@dataclass
class Sample:
    """One generated crystal with the latent it came from."""

    structure: Structure
    z: list[float]
    predicted_storage_score: float


def crystal_generator(seed: int, index: int) -> torch.Generator:
    """Return the CPU random generator of crystal ``index`` of a run's ``seed``."""
    digest = hashlib.sha256(f"matforge-crystal:{seed}:{index}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def rounded_structure(
    atom_types: Tensor, frac_coords: Tensor, lattice: Tensor, decimals: int = DECIMALS
) -> Structure:
    """Return a crystal with coordinates and lattice vectors rounded.

    Fractional coordinates are rounded to ``decimals`` and wrapped into
    [0, 1) (so 0.99999 becomes 0.0); the lattice vectors' Cartesian
    components to ``decimals`` angstrom.
    """
    matrix = torch.round(
        lattice.detach().cpu().double().reshape(3, 3), decimals=decimals
    )
    frac = torch.round(frac_coords.detach().cpu().double(), decimals=decimals)
    frac = torch.remainder(frac, 1.0)
    return Structure(
        Lattice(matrix.numpy()),
        [int(z) for z in atom_types.tolist()],
        frac.numpy(),
        coords_are_cartesian=False,
    )


def guide_latents(
    model: CrystalDiffusionVAE,
    z: Tensor,
    steps: int,
    learning_rate: float,
    prior_weight: float,
) -> Tensor:
    """Move latents uphill on the property head, held near the prior.

    Maximises ``score(z) / std - prior_weight * |z|^2 / 2`` with Adam. The
    latents move independently of each other (the objective is a sum).
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


def _decode_types(
    probs: Tensor,
    count_probs: Tensor,
    generators: Sequence[torch.Generator],
    settings: SamplingSettings,
    num_atoms: Tensor | None,
) -> tuple[list[int], list[Tensor]]:
    """Return each crystal's atom count and initial atom types."""
    if settings.composition not in COMPOSITIONS:
        raise ValueError(
            f"unknown composition decoding {settings.composition!r}; "
            f"expected one of {', '.join(COMPOSITIONS)}"
        )
    counts: list[int] = []
    types: list[Tensor] = []
    for k, generator in enumerate(generators):
        p = probs[k].detach().cpu()
        if settings.composition == "balanced":
            q = count_probs[k]
            if num_atoms is not None:
                q = torch.nn.functional.one_hot(num_atoms[k].cpu(), len(q)).double()
            n, comp = decode_composition(
                p,
                q,
                generator=generator if settings.draw_composition else None,
                hydride=settings.hydride_redraws > 0,
            )
            counts.append(n)
            types.append(
                torch.tensor(
                    sorted(z for z, c in comp.items() for _ in range(c)),
                    dtype=torch.long,
                )
            )
            continue
        n = int(num_atoms[k]) if num_atoms is not None else int(count_probs[k].argmax())
        if settings.composition == "cdvae":
            chosen = count_composition(
                p, n, generator, hydride_redraws=settings.hydride_redraws
            )
        elif settings.composition == "multinomial":
            chosen = multinomial_composition(
                p, n, generator, hydride_redraws=settings.hydride_redraws
            )
        else:
            chosen = torch.repeat_interleave(
                torch.arange(1, len(p) + 1),
                largest_remainder_counts(p, n, settings.min_expected_atoms),
            )
        counts.append(n)
        types.append(chosen)
    return counts, types


@torch.no_grad()
def head_compositions(
    model: CrystalDiffusionVAE,
    z: Tensor,
    generators: Sequence[torch.Generator],
    settings: SamplingSettings,
    *,
    num_atoms: Tensor | None = None,
    heads: HeadOutputs | None = None,
) -> tuple[list[int], list[Tensor]]:
    """Return the atom counts and atom types the heads give latents.

    The atom-count head's most probable count (or ``num_atoms``) and the
    composition head decoded as ``settings.composition`` says: the start of
    :func:`langevin_decode`, before the score network refines the types.
    """
    heads = heads if heads is not None else model.heads(z)
    logits = heads.composition_logits / settings.composition_temperature
    logits = logits.masked_fill(model.element_mask <= 0, -math.inf)
    probs = torch.softmax(logits, dim=-1)
    count_logits = heads.num_atoms_logits.clone()
    count_logits[:, 0] = -math.inf
    count_probs = torch.softmax(count_logits.double(), dim=-1).cpu()
    return _decode_types(probs, count_probs, generators, settings, num_atoms)


@torch.no_grad()
def langevin_decode(
    model: CrystalDiffusionVAE,
    z: Tensor,
    generators: Sequence[torch.Generator],
    settings: SamplingSettings,
    *,
    num_atoms: Tensor | None = None,
    atom_types: Tensor | None = None,
) -> list[Structure]:
    """Decode latents into crystals by annealed Langevin dynamics (CDVAE).

    Or by the reverse-diffusion steps of ``settings.sampler`` ``ancestral``.

    Parameters
    ----------
    model
        A trained model (eval mode).
    z
        ``(B, latent_dim)`` latents.
    generators
        One CPU random generator per latent (its composition, start and
        Langevin noise).
    settings
        Steps per noise level, step size and composition decoding.
    num_atoms
        ``(B,)`` atom counts to use instead of the atom-count head's
        (CDVAE's ``force_num_atoms``).
    atom_types
        Atomic numbers, crystal after crystal, to use (and keep) instead of
        decoding the composition (CDVAE's ``force_atom_types``); needs
        ``num_atoms``.

    Returns
    -------
    list[Structure]
        One crystal per latent, rounded (:func:`rounded_structure`).
    """
    if len(generators) != len(z):
        raise ValueError(f"{len(generators)} generators for {len(z)} latents")
    if atom_types is not None and num_atoms is None:
        raise ValueError("forced atom types need forced atom counts")
    device = z.device
    heads = model.heads(z)
    if atom_types is not None:
        assert num_atoms is not None
        counts = [int(n) for n in num_atoms.tolist()]
        types = atom_types.to(device)
    else:
        counts, parts = head_compositions(
            model, z, generators, settings, num_atoms=num_atoms, heads=heads
        )
        types = torch.cat(parts).to(device)
    n_atoms = torch.tensor(counts, device=device)
    lengths, angles = model.decode_lattice(heads.lattice, n_atoms)
    lattice = lattice_params_to_matrix(lengths, angles)
    batch = torch.repeat_interleave(torch.arange(len(z), device=device), n_atoms)
    inverse = torch.linalg.inv(lattice)[batch]
    refine = settings.decode_types and atom_types is None

    def draw(shape_of: Callable[[int], tuple[int, ...]], uniform: bool) -> Tensor:
        parts = [
            (torch.rand if uniform else torch.randn)(shape_of(n), generator=g)
            for n, g in zip(counts, generators, strict=True)
        ]
        return torch.cat(parts).to(device=device, dtype=lattice.dtype)

    frac = draw(lambda n: (n, 3), uniform=True)

    def move(sigma: Tensor, drift: Tensor, spread: Tensor | None) -> None:
        """One step at level ``sigma``: ``drift * score + spread * noise``."""
        nonlocal frac, types
        score, type_logits = model.score(
            z, types, frac, lattice, n_atoms, batch, sigma.expand(len(types))
        )
        delta = drift * score
        if spread is not None:
            delta = delta + spread * draw(lambda n: (n, 3), uniform=False)
        frac = torch.remainder(frac + torch.einsum("ni,nij->nj", delta, inverse), 1.0)
        if refine:
            types = type_logits.argmax(-1) + 1

    sigmas = model.sigmas
    sigma_min = sigmas[-1]
    ancestral = settings.sampler == "ancestral"
    # the predictor-corrector sampler: Langevin steps, then the predictor
    langevin_steps = settings.steps_per_level - int(ancestral)
    for level, sigma in enumerate(sigmas):
        step = settings.step_lr * (sigma / sigma_min) ** 2
        for _ in range(langevin_steps):
            move(sigma, step, torch.sqrt(2 * step))
        if ancestral:
            last = level + 1 == len(sigmas)
            variance = sigma**2 - (0.0 if last else sigmas[level + 1] ** 2)
            move(sigma, variance, None if last else torch.sqrt(variance))
    structures = []
    for k in range(len(counts)):
        mask = batch == k
        structures.append(rounded_structure(types[mask], frac[mask], lattice[k]))
    return structures


def sample_crystals(
    model: CrystalDiffusionVAE,
    num_samples: int,
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
    start: int = 0,
) -> list[Sample]:
    """Draw ``num_samples`` crystals from the prior (or guided latents).

    Crystal ``i`` uses :func:`crystal_generator` ``(seed, start + i)`` for
    its latent and everything after, so the same model, seed and settings
    give the same crystals whatever the batch size.

    Parameters
    ----------
    model
        A trained model.
    num_samples
        How many crystals.
    seed
        Seed of the run.
    settings
        Sampling settings.
    device
        ``cpu`` or ``cuda``.
    progress
        Called with the number of crystals finished after every batch.
    start
        Index of the first crystal (to continue a run).

    Returns
    -------
    list[Sample]
        The crystals, their latents and predicted storage scores.
    """
    dev = torch.device(device)
    model = model.to(dev).eval()
    samples: list[Sample] = []
    for first in range(0, num_samples, settings.batch_size):
        size = min(settings.batch_size, num_samples - first)
        generators = [crystal_generator(seed, start + first + k) for k in range(size)]
        z = torch.stack(
            [torch.randn(model.latent_dim, generator=g) for g in generators]
        ).to(dev)
        if settings.guided:
            with torch.enable_grad():
                z = guide_latents(
                    model,
                    z,
                    settings.guide_steps,
                    settings.guide_lr,
                    settings.guide_prior_weight,
                )
        structures = langevin_decode(model, z, generators, settings)
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
    graphs: Sequence[Any],
    seed: int,
    settings: SamplingSettings,
    device: str = "cpu",
    *,
    force_num_atoms: bool = False,
    force_atom_types: bool = False,
) -> list[Structure]:
    """Encode crystals to the mean of ``z`` and decode them again (CDVAE recon).

    Parameters
    ----------
    model
        A trained model.
    graphs
        :func:`matforge.ml.data.structure_to_data` graphs.
    seed
        Seed of the decoding (crystal ``i`` uses ``crystal_generator(seed, i)``).
    settings
        Sampling settings.
    device
        ``cpu`` or ``cuda``.
    force_num_atoms
        Use the true atom counts (CDVAE's ``--force_num_atoms``).
    force_atom_types
        Use (and keep) the true atom types, and so the true counts (CDVAE's
        ``--force_atom_types``).

    Returns
    -------
    list[Structure]
        One decoded crystal per graph.
    """
    from torch_geometric.loader import DataLoader

    dev = torch.device(device)
    model = model.to(dev).eval()
    out: list[Structure] = []
    for cpu_data in DataLoader(list(graphs), batch_size=settings.batch_size):
        data = cpu_data.to(dev)
        with torch.no_grad():
            mu, _ = model.encode_batch(data)
        generators = [
            crystal_generator(seed, len(out) + k) for k in range(len(data.num_atoms))
        ]
        forced_types = data.atom_types if force_atom_types else None
        forced_counts = (
            data.num_atoms if (force_num_atoms or force_atom_types) else None
        )
        out += langevin_decode(
            model,
            mu,
            generators,
            settings,
            num_atoms=forced_counts,
            atom_types=forced_types,
        )
    return out
