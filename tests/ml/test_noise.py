import math

import torch

from matforge.ml.data import lattice_params_to_matrix
from matforge.ml.noise import (
    add_wrapped_noise,
    geometric_levels,
    noise_atom_types,
    wrapped_normal_score,
)


def _cell():
    return lattice_params_to_matrix(
        torch.tensor([[3.0, 4.0, 5.0]]), torch.tensor([[80.0, 95.0, 110.0]])
    ).double()


def test_geometric_levels():
    levels = geometric_levels(10.0, 0.01, 4)
    assert torch.allclose(levels, torch.tensor([10.0, 1.0, 0.1, 0.01]), rtol=1e-5)


def test_wrapped_noise_stays_in_cell_and_has_the_right_width():
    gen = torch.Generator().manual_seed(0)
    lattice = _cell()
    n = 20000
    frac = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    batch = torch.zeros(n, dtype=torch.long)
    sigma = torch.full((n,), 0.1, dtype=torch.float64)
    noisy = add_wrapped_noise(frac, lattice, batch, sigma, gen)
    assert noisy.min() >= 0
    assert noisy.max() < 1
    diff = noisy - frac
    diff = diff - diff.round()
    cart = diff @ lattice[0]
    assert torch.allclose(
        cart.std(0), torch.full((3,), 0.1, dtype=torch.float64), rtol=0.03
    )
    assert cart.mean(0).abs().max() < 0.005


def _log_density(x_frac, x0_frac, lattice, sigma, image_range=6):
    axis = torch.arange(-image_range, image_range + 1, dtype=torch.float64)
    images = torch.cartesian_prod(axis, axis, axis)
    cart = (x_frac - x0_frac + images) @ lattice
    return torch.logsumexp(-(cart**2).sum(-1) / (2 * sigma**2), dim=0)


def test_wrapped_score_is_the_gradient_of_the_wrapped_density():
    lattice = _cell()
    gen = torch.Generator().manual_seed(1)
    # exact for small noise; a truncated image sum above ~half the plane spacing
    for sigma, tol in ((0.05, 1e-8), (0.5, 1e-8), (1.5, 1e-3)):
        x0 = torch.rand(3, generator=gen, dtype=torch.float64)
        x = torch.rand(3, generator=gen, dtype=torch.float64)
        # d log p / d cart = (d log p / d frac) @ inv(L)^T
        x_var = x.clone().requires_grad_(True)
        _log_density(x_var, x0, lattice[0], sigma).backward()
        expected = x_var.grad @ torch.linalg.inv(lattice[0]).T
        got = wrapped_normal_score(
            x[None],
            x0[None],
            lattice,
            torch.zeros(1, dtype=torch.long),
            torch.tensor([sigma], dtype=torch.float64),
        )[0]
        assert torch.allclose(got, expected, rtol=tol, atol=tol), sigma


def test_small_noise_score_is_the_minimum_image_gaussian_score():
    lattice = _cell()
    x0 = torch.tensor([[0.99, 0.01, 0.5]], dtype=torch.float64)
    x = torch.tensor([[0.005, 0.995, 0.51]], dtype=torch.float64)  # across the edge
    sigma = torch.tensor([0.02], dtype=torch.float64)
    score = wrapped_normal_score(
        x, x0, lattice, torch.zeros(1, dtype=torch.long), sigma
    )
    delta = torch.tensor([[0.015, -0.015, 0.01]], dtype=torch.float64) @ lattice[0]
    assert torch.allclose(score, -delta / sigma**2, rtol=1e-6)
    shifted = wrapped_normal_score(
        x + torch.tensor([[1.0, -2.0, 0.0]], dtype=torch.float64),
        x0,
        lattice,
        torch.zeros(1, dtype=torch.long),
        sigma,
    )
    assert torch.allclose(score, shifted)
    assert math.isfinite(float(score.norm()))


def test_type_noise_keeps_types_at_low_noise_and_mixes_at_high():
    gen = torch.Generator().manual_seed(0)
    types = torch.tensor([1, 1, 12] * 100)
    batch = torch.zeros(300, dtype=torch.long)
    composition = torch.zeros(1, 101)
    composition[0, 1], composition[0, 12] = 2 / 3, 1 / 3
    low = noise_atom_types(types, composition, batch, torch.full((300,), 1e-4), gen)
    assert torch.equal(low, types)
    high = noise_atom_types(types, composition, batch, torch.full((300,), 1e3), gen)
    assert set(high.tolist()) <= {1, 12}
    assert (high != types).sum() > 50
