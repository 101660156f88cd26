"""Fixtures: isolated settings, memory and embedded stores, the shared data folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from matforge.settings import MatforgeSettings, load_settings
from matforge.stores import StoreFactory

SHARED = Path(
    os.environ.get(
        "MATFORGE_SHARED_DATA",
        Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
    )
).resolve()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's settings, database and hub caches out of every test."""
    for name in list(os.environ):
        if name.startswith("MATFORGE_") and name not in {
            "MATFORGE_SHARED_DATA",
            "MATFORGE_TEST_MONGO_URI",
        }:
            monkeypatch.delenv(name)
    monkeypatch.delenv("MP_API_KEY", raising=False)
    empty = tmp_path / "empty-config.yaml"
    empty.write_text("{}\n")
    monkeypatch.setenv("MATFORGE_CONFIG_FILE", str(empty))
    monkeypatch.setenv("MATFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MATFORGE_SHARED_DATA", str(SHARED))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def shared_data() -> Path:
    """The offline data folder."""
    if not SHARED.is_dir():
        pytest.skip(f"offline data folder {SHARED} not found")
    return SHARED


@pytest.fixture
def memory_settings() -> MatforgeSettings:
    """Settings on a fresh in-process store of its own."""
    return load_settings(store={"uri": f"memory://{uuid.uuid4().hex}"})


@pytest.fixture
def embedded_settings(tmp_path: Path) -> MatforgeSettings:
    """Settings on a fresh embedded (montydb) store in a temporary home."""
    return load_settings(home=tmp_path / "embedded-home")


@pytest.fixture
def memory_factory(memory_settings: MatforgeSettings) -> StoreFactory:
    """A store factory on a fresh in-process store."""
    with StoreFactory(memory_settings) as factory:
        yield factory


# -- potentials: small structures and a tiny matgl model ---------------------------
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


def save_tiny_m3gnet(folder: Path, elements: tuple[str, ...]) -> Path:
    """Save a tiny M3GNet with random weights (matgl's save API) in folder."""
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    torch.manual_seed(0)
    model = M3GNet(
        element_types=elements,
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
    Potential(model=model).save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_matgl_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny M3GNet for H, Li and Mg with random weights."""
    folder = tmp_path_factory.mktemp("models") / "tiny-m3gnet"
    return save_tiny_m3gnet(folder, ("H", "Li", "Mg"))


@pytest.fixture(scope="session")
def tiny_li_o_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny M3GNet for Li and O with random weights (amorphous MD tests)."""
    folder = tmp_path_factory.mktemp("models") / "tiny-li-o-m3gnet"
    return save_tiny_m3gnet(folder, ("Li", "O"))


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Skip the real-server tests unless MATFORGE_TEST_MONGO_URI names a server."""
    if os.environ.get("MATFORGE_TEST_MONGO_URI"):
        return
    skip = pytest.mark.skip(reason="set MATFORGE_TEST_MONGO_URI to run MongoDB tests")
    for item in items:
        if "mongo" in item.keywords:
            item.add_marker(skip)


# -- the embedded store's writer lock, held by another process ----------------------
_HOLD = """
import sys, time
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.lock import store_writer

factory = StoreFactory(load_settings(home=sys.argv[1]))
with store_writer(factory, "a test holder"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def lock_holder():
    """Start processes that hold the writer lock of a home's store; kill them after."""
    import subprocess
    import sys

    started: list[subprocess.Popen] = []

    def hold(home: Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(home)], stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "held":
            raise RuntimeError(f"the lock holder did not start: {line!r}")
        return proc

    yield hold
    for proc in started:
        proc.kill()
        proc.wait()
