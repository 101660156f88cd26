"""Small structures and a tiny matgl model for the potential tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Run torch on one thread: the test machine is shared and busy."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def lih() -> Structure:
    """Rock-salt LiH, primitive cell (2 atoms)."""
    return Structure(
        Lattice.from_parameters(2.87, 2.87, 2.87, 60, 60, 60),
        ["Li", "H"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )


@pytest.fixture
def strained_lih(lih: Structure) -> Structure:
    """LiH with a stretched cell and a displaced H: needs a relaxation."""
    s = lih.copy()
    s.scale_lattice(lih.volume * 1.12)
    s.translate_sites([1], [0.03, -0.02, 0.01])
    return s


@pytest.fixture
def mgh2() -> Structure:
    """Rutile MgH2 (6 atoms)."""
    return Structure.from_spacegroup(
        "P4_2/mnm",
        Lattice.tetragonal(4.50, 3.01),
        ["Mg", "H"],
        [[0, 0, 0], [0.304, 0.304, 0]],
    )


@pytest.fixture(scope="session")
def tiny_matgl_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny M3GNet with random weights, saved with matgl's save API."""
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    torch.manual_seed(0)
    model = M3GNet(
        element_types=("H", "Li", "Mg"),
        is_intensive=False,
        nblocks=1,
        units=8,
        dim_node_embedding=8,
        dim_edge_embedding=8,
        max_n=2,
        max_l=2,
        cutoff=4.0,
        threebody_cutoff=3.0,
    )
    folder = tmp_path_factory.mktemp("models") / "tiny-m3gnet"
    Potential(model=model).save(folder)
    return folder
