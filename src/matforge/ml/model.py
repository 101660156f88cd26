"""A lightweight Crystal Diffusion VAE (after Xie et al., ICLR 2022).

- an invariant periodic message-passing encoder gives the mean and
  log-variance of a latent ``z`` (optionally reading the composition and the
  atom count beside the pooled atom features: ``encoder_composition``);
- heads on ``z`` predict the number of atoms, the lattice (lengths scaled by
  ``N^(1/3)`` and angles, normalised), the composition and the storage score;
- a score network conditioned on ``z`` takes noised fractional coordinates and
  noised atom types and predicts the coordinate score, an equivariant sum over
  periodic edges of learned scalars times the minimum-image directions (with
  the ``equivariant`` decoder, plus a projection of vector features that see
  bond angles), and atom-type logits.

The model's constructor takes explicit, typed arguments; :meth:`config`
returns them and a checkpoint (config JSON + ``state_dict``) rebuilds the
model exactly, loadable with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch_geometric.utils import scatter

from matforge.ml.data import MAX_Z, lattice_params_to_matrix, periodic_edges
from matforge.ml.layers import (
    EquivariantBlock,
    InteractionBlock,
    RadialBasis,
    cosine_envelope,
    mlp,
)
from matforge.ml.noise import (
    add_wrapped_noise,
    geometric_levels,
    noise_atom_types,
    wrapped_normal_score,
)

CHECKPOINT_FORMAT = 1


def atom_fractions(
    atom_types: Tensor,
    batch: Tensor,
    num_crystals: int,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Return each crystal's composition as ``(B, MAX_Z)`` atom fractions."""
    onehot = F.one_hot(atom_types - 1, MAX_Z).to(dtype)
    return scatter(onehot, batch, dim=0, dim_size=num_crystals, reduce="mean")


@dataclass
class HeadOutputs:
    """What the heads predict from a latent ``z`` (one row per crystal)."""

    num_atoms_logits: Tensor
    lattice: Tensor
    composition_logits: Tensor
    storage_score: Tensor


class CrystalDiffusionVAE(nn.Module):
    """A crystal diffusion variational autoencoder.

    Parameters
    ----------
    hidden_dim
        Width of atom features and MLPs.
    latent_dim
        Size of the latent ``z``.
    num_encoder_layers, num_decoder_layers
        Interaction blocks of the encoder and the score network.
    num_basis
        Radial basis functions.
    cutoff
        Neighbour cutoff (angstrom) of both graphs.
    max_atoms
        Largest number of atoms the atom-count head predicts.
    num_noise_levels
        Number of geometric noise levels.
    sigma_begin, sigma_end
        Largest and smallest coordinate noise (angstrom).
    type_sigma_begin, type_sigma_end
        Largest and smallest atom-type mixing weight.
    beta
        Weight of the KL divergence.
    cost_natom, cost_lattice, cost_composition, cost_coord, cost_type,
    cost_property
        Weights of the other losses.
    avg_neighbors
        Constant the summed messages are divided by.
    max_neighbors
        Each atom's nearest neighbours kept in both graphs (CDVAE: 20);
        None keeps every neighbour within the cutoff.
    encoder_composition
        The encoder's readout also reads the crystal's composition (atom
        fractions) and atom count, besides the pooled atom features. CDVAE's
        encoder pools atom features only, and a mean over atoms cannot tell
        a cell's atom count, so its atom-count and composition heads must
        learn both back from the structure; here they are handed to the
        latent directly. The generative path (prior, heads, score network)
        is unchanged.
    detach_lattice
        After teacher forcing, the score network denoises in the predicted
        lattice; with this, no gradient of the denoising loss reaches the
        lattice head through it, which then learns from its own loss only.
    decoder
        The score network's blocks: ``"invariant"`` passes distance-only
        messages (:class:`~matforge.ml.layers.InteractionBlock`) and sums the
        edge directions at the output; ``"equivariant"`` also carries vector
        features (:class:`~matforge.ml.layers.EquivariantBlock`), so the
        score can depend on bond angles, as CDVAE's directional decoder
        (GemNet) does, and adds their projection to the edge sum.
    """

    def __init__(
        self,
        *,
        hidden_dim: int = 64,
        latent_dim: int = 32,
        num_encoder_layers: int = 3,
        num_decoder_layers: int = 3,
        num_basis: int = 16,
        cutoff: float = 4.5,
        max_atoms: int = 20,
        num_noise_levels: int = 50,
        sigma_begin: float = 10.0,
        sigma_end: float = 0.01,
        type_sigma_begin: float = 5.0,
        type_sigma_end: float = 0.01,
        beta: float = 0.01,
        cost_natom: float = 1.0,
        cost_lattice: float = 10.0,
        cost_composition: float = 1.0,
        cost_coord: float = 10.0,
        cost_type: float = 1.0,
        cost_property: float = 1.0,
        avg_neighbors: float = 32.0,
        max_neighbors: int | None = None,
        encoder_composition: bool = False,
        detach_lattice: bool = False,
        decoder: str = "invariant",
    ) -> None:
        super().__init__()
        self._config: dict[str, Any] = {
            "hidden_dim": hidden_dim,
            "latent_dim": latent_dim,
            "num_encoder_layers": num_encoder_layers,
            "num_decoder_layers": num_decoder_layers,
            "num_basis": num_basis,
            "cutoff": cutoff,
            "max_atoms": max_atoms,
            "num_noise_levels": num_noise_levels,
            "sigma_begin": sigma_begin,
            "sigma_end": sigma_end,
            "type_sigma_begin": type_sigma_begin,
            "type_sigma_end": type_sigma_end,
            "beta": beta,
            "cost_natom": cost_natom,
            "cost_lattice": cost_lattice,
            "cost_composition": cost_composition,
            "cost_coord": cost_coord,
            "cost_type": cost_type,
            "cost_property": cost_property,
            "avg_neighbors": avg_neighbors,
            "max_neighbors": max_neighbors,
            "encoder_composition": encoder_composition,
            "detach_lattice": detach_lattice,
            "decoder": decoder,
        }
        if decoder not in ("invariant", "equivariant"):
            raise ValueError(
                f"decoder must be 'invariant' or 'equivariant', not {decoder!r}"
            )
        self.latent_dim = latent_dim
        self.cutoff = cutoff
        self.max_neighbors = max_neighbors
        self.max_atoms = max_atoms
        self.register_buffer(
            "sigmas", geometric_levels(sigma_begin, sigma_end, num_noise_levels)
        )
        self.register_buffer(
            "type_sigmas",
            geometric_levels(type_sigma_begin, type_sigma_end, num_noise_levels),
        )
        # Normalisers, fitted on the training split (set_normalisers).
        self.register_buffer("lattice_mean", torch.zeros(6))
        self.register_buffer("lattice_std", torch.ones(6))
        self.register_buffer("property_mean", torch.zeros(()))
        self.register_buffer("property_std", torch.ones(()))
        # Elements the training crystals hold (set_element_vocabulary); the
        # sampler decodes compositions over these only.
        self.register_buffer("element_mask", torch.ones(MAX_Z))

        self.rbf = RadialBasis(num_basis, cutoff)
        # Encoder.
        self.enc_embedding = nn.Embedding(MAX_Z + 1, hidden_dim)
        self.enc_blocks = nn.ModuleList(
            InteractionBlock(hidden_dim, num_basis, avg_neighbors)
            for _ in range(num_encoder_layers)
        )
        self.encoder_composition = encoder_composition
        self.detach_lattice = detach_lattice
        if encoder_composition:
            self.enc_composition = nn.Linear(MAX_Z, hidden_dim)
            self.enc_count = nn.Embedding(max_atoms + 1, hidden_dim)
        readout_in = 3 * hidden_dim if encoder_composition else hidden_dim
        self.enc_readout = mlp(readout_in, hidden_dim, 2 * latent_dim)
        # Heads on z.
        self.fc_num_atoms = mlp(latent_dim, hidden_dim, max_atoms + 1)
        self.fc_lattice = mlp(latent_dim, hidden_dim, 6)
        self.fc_composition = mlp(latent_dim, hidden_dim, MAX_Z)
        self.fc_property = mlp(latent_dim, hidden_dim, 1)
        # Score network.
        self.dec_embedding = nn.Embedding(MAX_Z + 1, hidden_dim)
        self.dec_latent = nn.Linear(latent_dim, hidden_dim)
        self.dec_sigma = nn.Linear(1, hidden_dim)
        self.decoder = decoder
        block = EquivariantBlock if decoder == "equivariant" else InteractionBlock
        self.dec_blocks = nn.ModuleList(
            block(hidden_dim, num_basis, avg_neighbors)
            for _ in range(num_decoder_layers)
        )
        if decoder == "equivariant":
            self.vector_out = nn.Linear(hidden_dim, 1, bias=False)
        self.edge_scalar = mlp(2 * hidden_dim + num_basis, hidden_dim, 1, num_hidden=1)
        self.type_out = mlp(hidden_dim, hidden_dim, MAX_Z, num_hidden=1)
        self.avg_neighbors = avg_neighbors

    def message_blocks(self) -> list[nn.Module]:
        """Return the encoder's and the score network's message-passing blocks."""
        return [*self.enc_blocks, *self.dec_blocks]

    # -- configuration and checkpoints -------------------------------------
    def config(self) -> dict[str, Any]:
        """Return the constructor arguments (JSON-able)."""
        return dict(self._config)

    def set_normalisers(
        self,
        lattice_mean: Tensor,
        lattice_std: Tensor,
        property_mean: float,
        property_std: float,
    ) -> None:
        """Set the lattice and storage-score normalisers (from training data)."""
        self.lattice_mean.copy_(lattice_mean)
        self.lattice_std.copy_(lattice_std.clamp_min(1e-6))
        self.property_mean.fill_(property_mean)
        self.property_std.fill_(max(property_std, 1e-6))

    def set_element_vocabulary(self, atomic_numbers: Tensor) -> None:
        """Restrict decoded compositions to these atomic numbers (1..MAX_Z)."""
        mask = torch.zeros_like(self.element_mask)
        mask[atomic_numbers.long().unique() - 1] = 1.0
        self.element_mask.copy_(mask)

    def element_vocabulary(self) -> list[int]:
        """Return the atomic numbers compositions are decoded over."""
        return (torch.nonzero(self.element_mask).squeeze(-1) + 1).tolist()

    def normalisers(self) -> dict[str, list[float] | list[int] | float]:
        """Return the normalisers and the element vocabulary as plain numbers."""
        return {
            "lattice_mean": self.lattice_mean.tolist(),
            "lattice_std": self.lattice_std.tolist(),
            "property_mean": float(self.property_mean),
            "property_std": float(self.property_std),
            "elements": self.element_vocabulary(),
        }

    def checkpoint(self) -> dict[str, Any]:
        """Return a checkpoint: format, config JSON, normalisers and state_dict."""
        return {
            "format": CHECKPOINT_FORMAT,
            "config": json.dumps(self.config(), sort_keys=True),
            "normalisers": json.dumps(self.normalisers(), sort_keys=True),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }

    def to_bytes(self) -> bytes:
        """Return the checkpoint serialised by ``torch.save``."""
        buffer = io.BytesIO()
        torch.save(self.checkpoint(), buffer)
        return buffer.getvalue()

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> CrystalDiffusionVAE:
        """Rebuild a model from :meth:`checkpoint`'s output."""
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unknown checkpoint format {checkpoint.get('format')!r}")
        model = cls(**json.loads(checkpoint["config"]))
        state = dict(checkpoint["state_dict"])
        # checkpoints from before the element vocabulary decode over every element
        state.setdefault("element_mask", torch.ones(MAX_Z))
        model.load_state_dict(state)
        return model

    @classmethod
    def from_bytes(
        cls, payload: bytes, map_location: str | torch.device = "cpu"
    ) -> CrystalDiffusionVAE:
        """Load a model from :meth:`to_bytes`'s output (``weights_only=True``)."""
        checkpoint = torch.load(
            io.BytesIO(payload), map_location=map_location, weights_only=True
        )
        return cls.from_checkpoint(checkpoint)

    # -- encoder -----------------------------------------------------------
    def encode_batch(self, data: Any) -> tuple[Tensor, Tensor]:
        """Return :meth:`encode` of a batch of crystal graphs."""
        return self.encode(
            data.atom_types, data.frac_coords, data.lattice, data.num_atoms, data.batch
        )

    def encode(
        self,
        atom_types: Tensor,
        frac_coords: Tensor,
        lattice: Tensor,
        num_atoms: Tensor,
        batch: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Return the mean and log-variance ``(B, latent_dim)`` of ``z``."""
        edges = periodic_edges(
            frac_coords,
            lattice,
            num_atoms,
            self.cutoff,
            max_neighbors=self.max_neighbors,
        )
        rbf = self.rbf(edges.distances)
        env = cosine_envelope(edges.distances, self.cutoff)
        h = self.enc_embedding(atom_types)
        for block in self.enc_blocks:
            h = block(h, edges.src, edges.dst, rbf, env)
        pooled = scatter(h, batch, dim=0, dim_size=len(num_atoms), reduce="mean")
        if self.encoder_composition:
            fractions = atom_fractions(atom_types, batch, len(num_atoms), h.dtype)
            count = self.enc_count(num_atoms.clamp(max=self.max_atoms))
            pooled = torch.cat([pooled, self.enc_composition(fractions), count], -1)
        mu, log_var = self.enc_readout(pooled).chunk(2, dim=-1)
        return mu, log_var.clamp(-10.0, 10.0)

    # -- heads ---------------------------------------------------------------
    def heads(self, z: Tensor) -> HeadOutputs:
        """Return the atom-count, lattice, composition and property predictions."""
        return HeadOutputs(
            num_atoms_logits=self.fc_num_atoms(z),
            lattice=self.fc_lattice(z),
            composition_logits=self.fc_composition(z),
            storage_score=self.fc_property(z).squeeze(-1),
        )

    def lattice_target(
        self, lengths: Tensor, angles: Tensor, num_atoms: Tensor
    ) -> Tensor:
        """Return the normalised lattice target: lengths / N^(1/3) and angles."""
        scaled = lengths / num_atoms.float()[:, None] ** (1 / 3)
        raw = torch.cat([scaled, angles], dim=-1)
        return (raw - self.lattice_mean) / self.lattice_std

    def decode_lattice(
        self, normalised: Tensor, num_atoms: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Return lengths (angstrom) and angles (degrees) from the lattice head."""
        raw = normalised * self.lattice_std + self.lattice_mean
        lengths = raw[:, :3].clamp_min(0.5) * num_atoms.float()[:, None] ** (1 / 3)
        angles = raw[:, 3:].clamp(30.0, 150.0)
        return lengths, angles

    def predict_storage_score(self, z: Tensor) -> Tensor:
        """Return the property head's storage score (denormalised)."""
        return self.fc_property(z).squeeze(-1) * self.property_std + self.property_mean

    # -- score network -------------------------------------------------------
    def score(
        self,
        z: Tensor,
        atom_types: Tensor,
        frac_coords: Tensor,
        lattice: Tensor,
        num_atoms: Tensor,
        batch: Tensor,
        sigma_per_atom: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Predict the coordinate score and atom-type logits of a noised crystal.

        Parameters
        ----------
        z
            ``(B, latent_dim)`` latents.
        atom_types
            ``(N,)`` (noised) atomic numbers.
        frac_coords
            ``(N, 3)`` noised fractional coordinates.
        lattice
            ``(B, 3, 3)`` lattices.
        num_atoms
            ``(B,)`` atoms per crystal.
        batch
            ``(N,)`` crystal of each atom.
        sigma_per_atom
            ``(N,)`` the noise level of each atom's crystal (angstrom).

        Returns
        -------
        tuple[Tensor, Tensor]
            ``(N, 3)`` Cartesian score (1 / angstrom) and ``(N, MAX_Z)`` logits
            over atomic numbers 1..MAX_Z.
        """
        edges = periodic_edges(
            frac_coords,
            lattice,
            num_atoms,
            self.cutoff,
            max_neighbors=self.max_neighbors,
        )
        rbf = self.rbf(edges.distances)
        env = cosine_envelope(edges.distances, self.cutoff)
        h = (
            self.dec_embedding(atom_types)
            + self.dec_latent(z)[batch]
            + self.dec_sigma(torch.log(sigma_per_atom)[:, None])
        )
        directions = edges.vectors / edges.distances[:, None]
        if self.decoder == "equivariant":
            v = h.new_zeros(h.shape[0], 3, h.shape[1])
            for block in self.dec_blocks:
                h, v = block(h, v, edges.src, edges.dst, rbf, env, directions)
        else:
            for block in self.dec_blocks:
                h = block(h, edges.src, edges.dst, rbf, env)
        scalars = (
            self.edge_scalar(
                torch.cat([h[edges.src], h[edges.dst], rbf], dim=-1)
            ).squeeze(-1)
            * env
        )
        out = scatter(
            scalars[:, None] * directions,
            edges.src,
            dim=0,
            dim_size=h.shape[0],
            reduce="sum",
        )
        out = out / self.avg_neighbors
        if self.decoder == "equivariant":
            out = out + self.vector_out(v).squeeze(-1)
        return out / sigma_per_atom[:, None], self.type_out(h)

    # -- training objective ---------------------------------------------------
    def loss(
        self,
        data: Any,
        generator: torch.Generator | None = None,
        *,
        teacher_forcing: bool = True,
    ) -> dict:
        """Return every loss of a batch and their weighted sum under ``loss``.

        As CDVAE: one coordinate noise level and an independent type noise
        level per crystal; the atom types are resampled from their one-hot
        mixed with the (detached) predicted composition, and the type loss is
        divided by the type noise level; coordinate and type losses are
        averaged over each crystal's atoms, then over crystals. With
        ``teacher_forcing`` the coordinates are noised and denoised in the
        true lattice; without, in the lattice the heads predict (what the
        sampler meets), the score target staying the one of the true lattice.

        Parameters
        ----------
        data
            A PyG batch of :func:`matforge.ml.data.structure_to_data` graphs.
        generator
            Random generator for the latent sample and the noise.
        teacher_forcing
            Give the score network the true lattice.

        Returns
        -------
        dict
            Tensors ``loss``, ``kl``, ``natom``, ``lattice``, ``composition``,
            ``coord``, ``type`` and ``property``.
        """
        num_atoms = data.num_atoms
        batch = data.batch
        n_crystals = len(num_atoms)
        device = data.frac_coords.device
        mu, log_var = self.encode_batch(data)
        eps = torch.randn(mu.shape, generator=generator, device=device)
        z = mu + torch.exp(0.5 * log_var) * eps
        kl = torch.mean(-0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp(), dim=-1))
        out = self.heads(z)
        natom = F.cross_entropy(
            out.num_atoms_logits, num_atoms.clamp(max=self.max_atoms)
        )
        lattice = F.mse_loss(
            out.lattice, self.lattice_target(data.lengths, data.angles, num_atoms)
        )
        composition = atom_fractions(data.atom_types, batch, n_crystals)
        comp_loss = (
            -(composition * F.log_softmax(out.composition_logits, dim=-1))
            .sum(-1)
            .mean()
        )
        mask = data.y_mask
        if bool(mask.any()):
            target = (data.y[mask] - self.property_mean) / self.property_std
            prop = F.mse_loss(out.storage_score[mask], target)
        else:
            prop = torch.zeros((), device=device)
        if teacher_forcing:
            seen_lattice = data.lattice
        else:
            predicted = out.lattice.detach() if self.detach_lattice else out.lattice
            lengths, angles = self.decode_lattice(predicted, num_atoms)
            seen_lattice = lattice_params_to_matrix(lengths, angles)
        # Denoising: independent coordinate and type noise levels per crystal.
        level = torch.randint(
            len(self.sigmas), (n_crystals,), generator=generator, device=device
        )
        type_level = torch.randint(
            len(self.type_sigmas), (n_crystals,), generator=generator, device=device
        )
        sigma = self.sigmas[level][batch]
        type_sigma = self.type_sigmas[type_level][batch]
        noisy_frac = add_wrapped_noise(
            data.frac_coords, seen_lattice, batch, sigma, generator
        )
        target_score = wrapped_normal_score(
            noisy_frac, data.frac_coords, data.lattice, batch, sigma
        )
        predicted_composition = torch.softmax(out.composition_logits.detach(), -1)
        noisy_types = noise_atom_types(
            data.atom_types,
            F.pad(predicted_composition, (1, 0)),
            batch,
            type_sigma,
            generator,
        )
        pred_score, type_logits = self.score(
            z, noisy_types, noisy_frac, seen_lattice, num_atoms, batch, sigma
        )
        coord_per_atom = 0.5 * sigma**2 * ((pred_score - target_score) ** 2).sum(-1)
        type_per_atom = (
            F.cross_entropy(type_logits, data.atom_types - 1, reduction="none")
            / type_sigma
        )

        def per_crystal(values: Tensor) -> Tensor:
            return scatter(
                values, batch, dim=0, dim_size=n_crystals, reduce="mean"
            ).mean()

        coord = per_crystal(coord_per_atom)
        type_loss = per_crystal(type_per_atom)
        c = self._config
        total = (
            c["beta"] * kl
            + c["cost_natom"] * natom
            + c["cost_lattice"] * lattice
            + c["cost_composition"] * comp_loss
            + c["cost_coord"] * coord
            + c["cost_type"] * type_loss
            + c["cost_property"] * prop
        )
        return {
            "loss": total,
            "kl": kl,
            "natom": natom,
            "lattice": lattice,
            "composition": comp_loss,
            "coord": coord,
            "type": type_loss,
            "property": prop,
        }
