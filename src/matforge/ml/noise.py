"""Noise of the diffusion: wrapped Gaussian coordinates, mixed atom types.

A crystal's atoms live on the torus ``R^3 / L``. Isotropic Gaussian noise of
width ``sigma`` (angstrom) added to a Cartesian position and wrapped back into
the cell has the density of a *wrapped* normal, a sum over lattice images
``n``; its score (gradient of the log density with respect to the noised
position) is a softmax-weighted sum of the image scores.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from matforge.ml.data import cart_to_frac, frac_to_cart


def geometric_levels(begin: float, end: float, num: int) -> Tensor:
    """Return ``num`` noise levels from ``begin`` down to ``end``, geometrically."""
    if num == 1:
        return torch.tensor([float(end)])
    return torch.exp(torch.linspace(math.log(begin), math.log(end), num))


def add_wrapped_noise(
    frac: Tensor,
    lattice: Tensor,
    batch: Tensor,
    sigma_per_atom: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Add isotropic Cartesian Gaussian noise and wrap back into the cell.

    Parameters
    ----------
    frac
        ``(N, 3)`` clean fractional coordinates.
    lattice
        ``(B, 3, 3)`` lattices.
    batch
        ``(N,)`` crystal of each atom.
    sigma_per_atom
        ``(N,)`` noise width in angstrom.
    generator
        Random generator (None: torch's global one).

    Returns
    -------
    Tensor
        ``(N, 3)`` noised fractional coordinates in [0, 1).
    """
    noise = torch.randn(
        frac.shape, generator=generator, device=frac.device, dtype=frac.dtype
    )
    cart = frac_to_cart(frac, lattice, batch) + noise * sigma_per_atom[:, None]
    return torch.remainder(cart_to_frac(cart, lattice, batch), 1.0)


def wrapped_normal_score(
    noisy_frac: Tensor,
    clean_frac: Tensor,
    lattice: Tensor,
    batch: Tensor,
    sigma_per_atom: Tensor,
    image_range: int = 2,
) -> Tensor:
    """Return the Cartesian score of the wrapped normal at the noised positions.

    ``grad_x log sum_n exp(-|x - x0 + n L|^2 / (2 sigma^2))``, summed over the
    translations ``n`` in ``[-image_range, image_range]^3`` around the
    minimum image; exact to float precision while ``sigma`` is below about
    the plane spacing, and tending to zero (the uniform limit) above it.

    Parameters
    ----------
    noisy_frac, clean_frac
        ``(N, 3)`` fractional coordinates.
    lattice
        ``(B, 3, 3)`` lattices.
    batch
        ``(N,)`` crystal of each atom.
    sigma_per_atom
        ``(N,)`` noise width in angstrom.
    image_range
        Translations searched along each axis.

    Returns
    -------
    Tensor
        ``(N, 3)`` score in 1 / angstrom.
    """
    diff = noisy_frac - clean_frac
    diff = diff - torch.round(diff)
    axis = torch.arange(-image_range, image_range + 1, device=diff.device)
    images = torch.cartesian_prod(axis, axis, axis).to(diff.dtype)  # (M, 3)
    shifted = diff[:, None, :] + images[None]  # (N, M, 3)
    cart = torch.einsum("nmi,nij->nmj", shifted, lattice[batch])
    sigma2 = (sigma_per_atom**2)[:, None]
    log_weight = -(cart**2).sum(-1) / (2 * sigma2)  # (N, M)
    weight = torch.softmax(log_weight, dim=-1)
    return -(weight[..., None] * cart).sum(1) / sigma2


def noise_atom_types(
    atom_types: Tensor,
    composition: Tensor,
    batch: Tensor,
    type_sigma_per_atom: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Resample atom types from the one-hot type mixed with the composition.

    As in CDVAE: ``p = onehot(type) + sigma_t * composition`` normalised, so a
    large ``sigma_t`` draws types from the crystal's own composition.

    Parameters
    ----------
    atom_types
        ``(N,)`` atomic numbers.
    composition
        ``(B, K)`` composition fractions over atomic numbers ``0..K-1``.
    batch
        ``(N,)`` crystal of each atom.
    type_sigma_per_atom
        ``(N,)`` mixing weights.
    generator
        Random generator.

    Returns
    -------
    Tensor
        ``(N,)`` noised atomic numbers.
    """
    onehot = torch.nn.functional.one_hot(atom_types, composition.shape[-1]).float()
    probs = onehot + type_sigma_per_atom[:, None] * composition[batch]
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
