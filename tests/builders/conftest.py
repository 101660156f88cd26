"""Fixtures of the builder tests: a small references file and a store factory."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pytest

from matforge.settings import load_settings
from matforge.stores import StoreFactory, upsert_documents


def hydride_references(shared: Path) -> list[dict]:
    """The records of the offline references that hold hydrogen (about 70)."""
    with gzip.open(shared / "mp_binaries_reference.json.gz", "rt") as handle:
        records = json.load(handle)
    return [
        r
        for r in records
        if any(s["species"][0]["element"] == "H" for s in r["structure"]["sites"])
    ]


@pytest.fixture
def references_file(shared_data: Path, tmp_path: Path) -> Path:
    """A references file with the hydrides of the offline one (fast to load)."""
    path = tmp_path / "references.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(hydride_references(shared_data), handle)
    return path


@pytest.fixture
def factory(references_file: Path):
    """A memory store factory whose references are the small file."""
    settings = load_settings(
        store={"uri": f"memory://{uuid.uuid4().hex}"},
        candidates={"references_file": str(references_file)},
    )
    with StoreFactory(settings) as made:
        yield made


def store_relaxed(factory: StoreFactory, docs) -> None:
    """Write relaxed documents as the relaxation stage does."""
    upsert_documents(
        factory.store("relaxed"), [d.model_dump() for d in docs], "relaxed_id"
    )
