"""Energies on ingest: the caller's potential, in bounded batches, stored with its name.

The potential here is a test double with the interface ingest asks for (a
callable from a batch of structures to ``(E_form, e_above_hull)`` pairs); the
real one comes from matforge.potentials.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pymatgen.core import Structure

from matforge.data import ingest as ingest_module
from matforge.data.files import read_paths
from matforge.data.ingest import IngestEnergies, ingest_records
from matforge.data.records import RawRecord
from matforge.stores import StoreFactory

CORPUS = Path(__file__).parent / "corpus"
GOOD = 24  # hydrides in the corpus
WITH_INPUT_ENERGY = 7  # of those, given a formation energy by their input


class DoublePotential:
    """E_form = -0.5 x H fraction, 0.05 above the hull; records the batches."""

    def __init__(self, fail: str | None = None, error: str | None = None) -> None:
        self.batches: list[int] = []
        self.fail = fail
        self.error = error

    def __call__(
        self, structures: Sequence[Structure]
    ) -> list[tuple[float | None, float | None]]:
        self.batches.append(len(structures))
        if self.error is not None:
            raise RuntimeError(self.error)
        out: list[tuple[float | None, float | None]] = []
        for s in structures:
            if s.composition.reduced_formula == self.fail:
                out.append((None, None))
            else:
                out.append((-0.5 * s.composition.get_atomic_fraction("H"), 0.05))
        return out


def energies(potential: DoublePotential, **kwargs) -> IngestEnergies:
    return IngestEnergies(potential, potential="double", version="0.1", **kwargs)


def hydrides(factory: StoreFactory) -> dict[str, dict]:
    return {d["origin"]: d for d in factory.store("hydrides").query()}


def test_entries_without_energy_get_one(memory_factory):
    potential = DoublePotential()
    summary = ingest_records(
        read_paths([CORPUS]),
        memory_factory,
        "files",
        [str(CORPUS)],
        energies=energies(potential, batch_size=4),
    )
    assert summary.accepted == GOOD
    assert summary.energies_computed == GOOD - WITH_INPUT_ENERGY
    assert sum(potential.batches) == GOOD - WITH_INPUT_ENERGY
    assert max(potential.batches) <= 4
    assert summary.without_energy == 0
    assert summary.energy_hint() is None
    assert "energies: 17 computed with double 0.1, 0 failed" in summary.lines()

    docs = hydrides(memory_factory)
    naalh4 = docs[str(CORPUS / "good_NaAlH4_conventional.cif")]
    assert naalh4["nsites"] == 12
    assert naalh4["formation_energy_per_atom"] == pytest.approx(-0.5 * 4 / 6)
    assert naalh4["e_above_hull"] == pytest.approx(0.05)
    assert naalh4["energy_potential"] == "double 0.1"
    assert naalh4["energy_source"] == "ML potential double 0.1, computed at ingest"
    assert naalh4["storage_score"] is not None
    assert naalh4["features"]["storage_score"] == naalh4["storage_score"]
    assert naalh4["build"]["settings"]["energies"]["potential"] == "double"
    lih = next(d for d in docs.values() if d["material_id"] == "corpus-LiH")
    assert lih["formation_energy_per_atom"] == pytest.approx(-0.456)  # the input's
    assert lih["energy_potential"] is None


def test_second_ingest_with_energies_changes_nothing(memory_factory):
    args = (memory_factory, "files", [str(CORPUS)])
    ingest_records(read_paths([CORPUS]), *args, energies=energies(DoublePotential()))
    again = ingest_records(
        read_paths([CORPUS]), *args, energies=energies(DoublePotential())
    )
    assert (again.ingested, again.updated, again.unchanged) == (0, 0, GOOD)


def test_replace_recomputes_energies_the_input_gives(memory_factory):
    potential = DoublePotential()
    summary = ingest_records(
        read_paths([CORPUS]),
        memory_factory,
        "files",
        [],
        energies=energies(potential, replace=True),
    )
    assert summary.energies_computed == GOOD
    lih = next(
        d for d in hydrides(memory_factory).values() if d["material_id"] == "corpus-LiH"
    )
    assert lih["formation_energy_per_atom"] == pytest.approx(-0.25)
    assert lih["energy_potential"] == "double 0.1"


def test_failed_energies_are_reported_and_entries_kept(memory_factory):
    summary = ingest_records(
        read_paths([CORPUS]),
        memory_factory,
        "files",
        [],
        energies=energies(DoublePotential(fail="NaAlH4")),
    )
    assert summary.accepted == GOOD
    ((name, reason),) = summary.energy_failures
    assert name == str(CORPUS / "good_NaAlH4_conventional.cif")
    assert reason == "the potential gave no energy"
    assert summary.without_energy == 1
    assert "double 0.1 could not compute them" in summary.energy_hint()
    doc = hydrides(memory_factory)[name]
    assert doc["formation_energy_per_atom"] is None
    assert doc["storage_score"] is None


def test_a_potential_that_raises_loses_no_entry(memory_factory):
    summary = ingest_records(
        read_paths([CORPUS]),
        memory_factory,
        "files",
        [],
        energies=energies(DoublePotential(error="out of memory")),
    )
    assert summary.accepted == GOOD
    assert summary.energies_computed == 0
    assert len(summary.energy_failures) == GOOD - WITH_INPUT_ENERGY
    assert all(
        reason == "double failed on this batch: out of memory"
        for _, reason in summary.energy_failures
    )


def test_without_energies_the_summary_says_how_to_add_them(memory_factory):
    summary = ingest_records(read_paths([CORPUS]), memory_factory, "files", [])
    assert summary.without_energy == GOOD - WITH_INPUT_ENERGY
    hint = summary.energy_hint()
    assert hint.startswith("17 of the 24 entries written have no formation energy")
    assert "add `--energies` to `matforge ingest files`" in hint
    assert summary.lines()[-1] == hint
    assert summary.as_dict()["hint"] == hint


@pytest.mark.parametrize("workers", [1, 2])
def test_records_stream_in_bounded_chunks(workers, memory_settings, monkeypatch):
    """Never more than a few chunks are read ahead of what is written."""
    monkeypatch.setattr(ingest_module, "CHUNK", 10)
    good = [r for r in read_paths([CORPUS]) if r.error is None][:20]
    pulled = handled = 0
    gaps: list[int] = []

    def source() -> Iterator[RawRecord]:
        nonlocal pulled
        for _ in range(15):
            for record in good:
                pulled += 1
                yield record

    def progress(n: int) -> None:
        nonlocal handled
        handled += n
        gaps.append(pulled - handled)

    settings = memory_settings.model_copy(
        update={
            "ingest": memory_settings.ingest.model_copy(update={"workers": workers})
        }
    )
    potential = DoublePotential()
    with StoreFactory(settings) as factory:
        summary = ingest_records(
            source(),
            factory,
            "files",
            [],
            progress=progress,
            energies=energies(potential, batch_size=8),
        )
    assert summary.read == pulled == 300
    assert max(potential.batches) <= 8
    # the first chunk, then at most IN_FLIGHT chunks per worker in the pool
    bound = 10 * (1 + ingest_module.IN_FLIGHT * workers + 1)
    assert max(gaps) <= bound
    assert max(gaps) < 300 // 2
