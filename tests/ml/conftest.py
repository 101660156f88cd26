"""Fixtures of the generator tests: a few real hydrides."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pymatgen.core import Structure


@pytest.fixture
def seed_structures(shared_data: Path) -> list[Structure]:
    """The first twelve hydrides of the offline snapshot."""
    with gzip.open(shared_data / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    return [Structure.from_dict(r["structure"]) for r in records[:12]]
