"""Fixtures: isolated settings, memory and embedded stores, the shared data folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

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
