"""Fixtures of the generator tests: a few real hydrides."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from pymatgen.core import Structure


@pytest.fixture
def seed_structures(shared_data: Path) -> list[Structure]:
    """The first twelve hydrides of the offline snapshot."""
    with gzip.open(shared_data / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    return [Structure.from_dict(r["structure"]) for r in records[:12]]


@pytest.fixture(scope="module")
def shared_data_module() -> Path:
    """The offline data folder, for fixtures shared by a module's tests."""
    folder = Path(
        os.environ.get(
            "MATFORGE_SHARED_DATA",
            Path(__file__).resolve().parents[2] / ".." / "shared" / "data",
        )
    ).resolve()
    if not folder.is_dir():
        pytest.skip(f"offline data folder {folder} not found")
    return folder
