"""Building blocks: radial basis, invariant interaction blocks, small MLPs."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter


def mlp(in_dim: int, hidden_dim: int, out_dim: int, num_hidden: int = 2) -> nn.Module:
    """Return an MLP with SiLU activations and ``num_hidden`` hidden layers."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_hidden):
        layers += [nn.Linear(dim, hidden_dim), nn.SiLU()]
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


def cosine_envelope(distances: Tensor, cutoff: float) -> Tensor:
    """Return ``(cos(pi d / cutoff) + 1) / 2`` inside the cutoff, 0 outside."""
    env = 0.5 * (torch.cos(math.pi * distances / cutoff) + 1.0)
    return env * (distances < cutoff)


class RadialBasis(nn.Module):
    """Gaussians on a grid of distances, times a smooth cutoff envelope.

    Parameters
    ----------
    num_basis
        Number of Gaussians between 0 and ``cutoff``.
    cutoff
        Cutoff in angstrom; the features vanish smoothly there.
    """

    def __init__(self, num_basis: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("centres", torch.linspace(0.0, cutoff, num_basis))
        self.width = cutoff / num_basis

    def forward(self, distances: Tensor) -> Tensor:
        """Return ``(E, num_basis)`` features of ``(E,)`` distances."""
        gauss = torch.exp(
            -(((distances[:, None] - self.centres) / self.width) ** 2) / 2
        )
        return gauss * cosine_envelope(distances, self.cutoff)[:, None]


class InteractionBlock(nn.Module):
    """A continuous-filter convolution with a residual update (SchNet-like).

    Messages depend on the neighbours' features and the interatomic distance
    only, so the block is invariant to rotations, translations, permutations
    and the choice of periodic image.

    Parameters
    ----------
    hidden_dim
        Width of the atom features.
    num_basis
        Number of radial basis functions.
    avg_neighbors
        Constant the summed messages are divided by.
    """

    def __init__(self, hidden_dim: int, num_basis: int, avg_neighbors: float) -> None:
        super().__init__()
        self.filter = mlp(num_basis, hidden_dim, hidden_dim, num_hidden=1)
        self.lin_in = nn.Linear(hidden_dim, hidden_dim)
        self.update = mlp(2 * hidden_dim, hidden_dim, hidden_dim, num_hidden=1)
        self.norm = nn.LayerNorm(hidden_dim)
        self.avg_neighbors = avg_neighbors

    def forward(
        self, h: Tensor, src: Tensor, dst: Tensor, rbf: Tensor, envelope: Tensor
    ) -> Tensor:
        """Update ``(N, H)`` features from the edges ``src <- dst``."""
        message = self.lin_in(h)[dst] * self.filter(rbf) * envelope[:, None]
        summed = scatter(message, src, dim=0, dim_size=h.shape[0], reduce="sum")
        summed = summed / self.avg_neighbors
        return self.norm(h + self.update(torch.cat([h, summed], dim=-1)))

    def example_inputs(self, atoms: int = 6, edges: int = 18) -> tuple[Tensor, ...]:
        """Return small random inputs of :meth:`forward` (a compile probe)."""
        return _example_inputs(self, atoms, edges, vectors=False)


class EquivariantBlock(nn.Module):
    """A message and update step on scalar and vector atom features.

    Each atom carries invariant features ``h`` ``(N, H)`` and vector features
    ``v`` ``(N, 3, H)`` that rotate with the crystal (the design of PaiNN,
    Schütt et al. 2021). Messages mix the neighbours' vectors with the unit
    vectors of the edges, so after one block ``h`` holds the angles between an
    atom's bonds through the vectors' norms and dot products, which
    distance-only messages (:class:`InteractionBlock`) cannot see. It costs
    pairs, not the triplets of a directional network such as GemNet (CDVAE's
    decoder). It takes :class:`InteractionBlock`'s parameters, so either can be
    the score network's block; ``hidden_dim`` is the width of the scalar and of
    the vector features.
    """

    def __init__(self, hidden_dim: int, num_basis: int, avg_neighbors: float) -> None:
        super().__init__()
        self.message = mlp(hidden_dim, hidden_dim, 3 * hidden_dim, num_hidden=1)
        self.filter = nn.Linear(num_basis, 3 * hidden_dim)
        self.mix_u = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.mix_v = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.update = mlp(2 * hidden_dim, hidden_dim, 3 * hidden_dim, num_hidden=1)
        self.norm = nn.LayerNorm(hidden_dim)
        self.avg_neighbors = avg_neighbors

    def forward(
        self,
        h: Tensor,
        v: Tensor,
        src: Tensor,
        dst: Tensor,
        rbf: Tensor,
        envelope: Tensor,
        unit: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Update ``h`` ``(N, H)`` and ``v`` ``(N, 3, H)`` from edges ``src <- dst``.

        ``unit`` holds the ``(E, 3)`` unit vectors from each source atom to
        its neighbour's image.
        """
        x = self.message(h)[dst] * self.filter(rbf) * envelope[:, None]
        gate_v, gate_dir, dh = x.chunk(3, dim=-1)
        dv = v[dst] * gate_v[:, None, :] + unit[:, :, None] * gate_dir[:, None, :]
        n = h.shape[0]
        h = h + scatter(dh, src, dim=0, dim_size=n, reduce="sum") / self.avg_neighbors
        v = v + scatter(dv, src, dim=0, dim_size=n, reduce="sum") / self.avg_neighbors
        u, w = self.mix_u(v), self.mix_v(v)
        w_norm = torch.sqrt((w**2).sum(dim=1) + 1e-8)
        a_vv, a_sv, a_ss = self.update(torch.cat([h, w_norm], dim=-1)).chunk(3, -1)
        v = v + a_vv[:, None, :] * u
        h = self.norm(h + a_sv * (u * w).sum(dim=1) + a_ss)
        return h, v

    def example_inputs(self, atoms: int = 6, edges: int = 18) -> tuple[Tensor, ...]:
        """Return small random inputs of :meth:`forward` (a compile probe)."""
        return _example_inputs(self, atoms, edges, vectors=True)


def _example_inputs(
    block: nn.Module, atoms: int, edges: int, *, vectors: bool
) -> tuple[Tensor, ...]:
    """Return random ``(h, [v,] src, dst, rbf, envelope, [unit])`` of a block."""
    parameter = next(block.parameters())
    like = {"dtype": parameter.dtype, "device": parameter.device}
    hidden = block.norm.normalized_shape[0]
    first = next(m for m in block.filter.modules() if isinstance(m, nn.Linear))
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(atoms, hidden, generator=generator).to(**like)
    src = torch.arange(edges) % atoms
    dst = (src + 1 + torch.arange(edges) // atoms) % atoms
    src, dst = src.to(parameter.device), dst.to(parameter.device)
    rbf = torch.rand(edges, first.in_features, generator=generator).to(**like)
    envelope = torch.rand(edges, generator=generator).to(**like)
    if not vectors:
        return h, src, dst, rbf, envelope
    v = torch.randn(atoms, 3, hidden, generator=generator).to(**like)
    unit = torch.nn.functional.normalize(
        torch.randn(edges, 3, generator=generator), dim=-1
    ).to(**like)
    return h, v, src, dst, rbf, envelope, unit
