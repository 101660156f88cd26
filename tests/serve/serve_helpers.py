"""Helpers of the serve tests: candidates and hydrides of the seed, a live server.

TEST DATA: the candidates are seed hydrides, perturbed, with made-up formation
energies and hull distances (the storage score follows from them with the
default score settings); a few are duplicates or invalid, as the candidates
builder leaves them. The hydrides are the seed records themselves.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from matforge.builders.optimade import build_optimade
from matforge.core.chemistry import is_metal_hydride
from matforge.core.score import h_weight_fraction, storage_score
from matforge.schemas.candidate import CandidateDoc
from matforge.schemas.hydride import HydrideDoc
from matforge.settings import MatforgeSettings, ScoreSettings, load_settings
from matforge.stores import StoreFactory, upsert_documents

RUN_ID = "run-serve-test"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def shared_dir() -> Path:
    """The offline data folder (for module-scoped fixtures); skip without it."""
    import pytest

    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    path = Path(os.environ.get("MATFORGE_SHARED_DATA", default)).resolve()
    if not path.is_dir():
        pytest.skip(f"offline data folder {path} not found")
    return path


def seed_records(shared: Path) -> list[dict[str, Any]]:
    """The seed hydride records (metal hydrides only)."""
    with gzip.open(shared / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    return [
        r
        for r in records
        if is_metal_hydride(Structure.from_dict(r["structure"]).composition)
    ]


def hydride_docs(shared: Path, count: int = 20) -> list[dict[str, Any]]:
    """Hydrides documents of the first seed records."""
    docs = []
    for r in seed_records(shared)[:count]:
        doc = HydrideDoc.from_structure(
            Structure.from_dict(r["structure"]),
            material_id=r["material_id"],
            source="offline",
            origin="hydrides_seed.json.gz",
            licence=r.get("licence"),
            formation_energy_per_atom=r.get("formation_energy_per_atom"),
            e_above_hull=r.get("e_above_hull"),
        )
        docs.append(doc.model_copy(update={"last_updated": T0}).model_dump())
    return docs


def _made_up_energy(name: str) -> float:
    return -0.7 + 0.75 * (zlib.crc32(name.encode()) % 1000) / 1000


def candidate_docs(
    shared: Path, count: int = 30, seed: int = 0, run_id: str = RUN_ID
) -> list[dict[str, Any]]:
    """Candidates documents: mostly ``candidate``, some duplicates and invalid."""
    rng = np.random.default_rng(seed)
    records = seed_records(shared)
    docs = []
    for i in range(count):
        record = records[i % len(records)]
        structure = Structure.from_dict(record["structure"])
        structure.perturb(0.02, seed=int(rng.integers(1 << 30)))
        comp = structure.composition
        cid = f"rlx-{i:04d}{uuid.UUID(int=seed * 10_000 + i).hex[:12]}"
        e_form = _made_up_energy(cid)
        e_hull = float(rng.choice([0.0, 0.01, 0.04, 0.12]))
        status = "candidate"
        if i % 10 == 7:
            status = "duplicate"
        if i % 10 == 9:
            status = "invalid"
        novel = bool(i % 3)
        doc = CandidateDoc(
            candidate_id=cid,
            relaxed_id=cid,
            generated_id=f"gen-{i:04d}",
            run_id=run_id,
            status=status,
            reasons=["made-up reason"] if status == "invalid" else [],
            duplicate_of=docs[0]["candidate_id"] if status == "duplicate" else None,
            structure=None if status == "invalid" else structure,
            formula=comp.formula.replace(" ", ""),
            reduced_formula=comp.reduced_formula,
            elements=sorted(el.symbol for el in comp.elements),
            nsites=len(structure),
            spacegroup_symbol="P1",
            spacegroup_number=1,
            formation_energy_per_atom=e_form,
            e_above_hull=e_hull,
            h_weight_fraction=h_weight_fraction(comp),
            storage_score=storage_score(
                comp, e_form, **ScoreSettings().model_dump()
            ).storage_score,
            potential="sevennet-0",
            converged=True,
            matched_id=None if novel else record["material_id"],
            matched_ids=[] if novel else [record["material_id"]],
            same_formula=not novel,
            same_ratio=not novel,
            is_novel=novel,
            is_stable=e_hull <= 0.025,
            relaxed_last_updated=T0,
            known_signature="test",
            settings_hash="test",
            last_updated=T0 + timedelta(minutes=i),
        )
        docs.append(doc.with_hash().model_dump())
    return docs


def store_sources(
    factory: StoreFactory,
    candidates: list[dict[str, Any]],
    hydrides: list[dict[str, Any]],
) -> None:
    """Write candidates and hydrides documents as their stages do."""
    if candidates:
        upsert_documents(factory.store("candidates"), candidates, "candidate_id")
    if hydrides:
        upsert_documents(factory.store("hydrides"), hydrides, "material_id")


def served_settings(home: Path, **overrides: Any) -> MatforgeSettings:
    """Settings on a fresh in-process store, with a home for the reports."""
    return load_settings(
        store={"uri": f"memory://{uuid.uuid4().hex}"}, home=home, **overrides
    )


@contextmanager
def populated(
    shared: Path, home: Path, candidates: int = 30, hydrides: int = 20, **overrides
) -> Iterator[StoreFactory]:
    """A store factory whose candidates, hydrides and OPTIMADE entries are built."""
    settings = served_settings(home, **overrides)
    with StoreFactory(settings) as factory:
        store_sources(
            factory,
            candidate_docs(shared, candidates),
            hydride_docs(shared, hydrides),
        )
        build_optimade(factory, progress=False)
        yield factory


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Run an application with uvicorn on a free loopback port; yield its URL."""
    import uvicorn

    from matforge.serve.app import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
