"""Curators' queries: every entry listed (unscored ones last), provenance per source."""

from __future__ import annotations

from pathlib import Path

import pytest

from matforge.data.files import read_paths
from matforge.data.ingest import ingest_records
from matforge.stores.queries import file_of, list_hydrides, provenance_report

CORPUS = Path(__file__).parents[1] / "data" / "corpus"
SCORED = 7  # corpus hydrides whose input gives a formation energy
GOOD = 24


@pytest.fixture
def corpus_factory(memory_factory):
    ingest_records(read_paths([CORPUS]), memory_factory, "files", [str(CORPUS)])
    return memory_factory


def test_unscored_entries_follow_the_scored_ones(corpus_factory):
    listing = list_hydrides(corpus_factory.store("hydrides"), top=50)
    assert (listing.total, listing.matched, len(listing.rows)) == (GOOD, GOOD, GOOD)
    scores = [row["storage_score"] for row in listing.rows]
    assert all(s is not None for s in scores[:SCORED])
    assert scores[:SCORED] == sorted(scores[:SCORED], reverse=True)
    assert all(s is None for s in scores[SCORED:])
    unscored = [row["material_id"] for row in listing.rows[SCORED:]]
    assert unscored == sorted(unscored)
    assert listing.unranked_shown == GOOD - SCORED
    (note,) = listing.notes()
    assert note.startswith("17 entries listed last, unranked: no formation energy")
    assert "--energies" in note


def test_top_cuts_and_says_so(corpus_factory):
    listing = list_hydrides(corpus_factory.store("hydrides"), top=5)
    assert len(listing.rows) == 5
    assert all(row["storage_score"] is not None for row in listing.rows)
    assert listing.not_shown == GOOD - 5
    assert listing.notes() == ["19 entries more match: showing 5 of 24 (raise --top)"]


def test_filters(corpus_factory):
    store = corpus_factory.store("hydrides")
    with_energy = list_hydrides(store, top=50, has_energy=True)
    assert with_energy.matched == SCORED
    without = list_hydrides(store, top=50, has_energy=False)
    assert without.matched == GOOD - SCORED
    assert all(r["formation_energy_per_atom"] is None for r in without.rows)

    scored = list_hydrides(store, top=50, min_score=0.0)
    assert scored.matched == SCORED
    assert scored.no_score_hidden == GOOD - SCORED
    assert (
        "17 entries without a storage score (no formation energy) left out"
        in (scored.notes()[0])
    )
    high = list_hydrides(store, top=50, min_score=0.02)
    assert all(r["storage_score"] >= 0.02 for r in high.rows)
    assert high.matched < SCORED

    alanates = list_hydrides(store, elements=["Al"], fields=["reduced_formula"])
    assert sorted(r["reduced_formula"] for r in alanates.rows) == ["AlH3", "NaAlH4"]
    assert set(alanates.rows[0]) == {"material_id", "reduced_formula", "storage_score"}

    assert list_hydrides(store, source="files").matched == GOOD
    other = list_hydrides(store, source=["mp", "offline"])
    assert other.matched == 0
    assert other.notes() == ["none of the 24 hydrides match the filters"]


def test_sort_by_another_field_ascending(corpus_factory):
    listing = list_hydrides(
        corpus_factory.store("hydrides"), sort_field="nsites", ascending=True, top=50
    )
    sizes = [row["nsites"] for row in listing.rows]
    assert sizes == sorted(sizes)
    assert listing.unranked_shown == 0


def test_empty_collection(memory_factory):
    listing = list_hydrides(memory_factory.store("hydrides"))
    assert listing.rows == []
    (note,) = listing.notes()
    assert note == (
        "the hydrides collection is empty: run `matforge ingest offline` or "
        "`matforge ingest files PATH`"
    )


def test_provenance_per_source_and_file(corpus_factory):
    report = provenance_report(
        corpus_factory.store("hydrides"), corpus_factory.store("rejects")
    )
    files = report.sources["files"]
    assert (files.entries, files.with_energy, files.with_score) == (
        GOOD,
        SCORED,
        SCORED,
    )
    assert files.reduced == 7
    assert sum(files.energy_sources.values()) == SCORED
    assert files.rejected == 27
    mixed = files.rejects_by_file[str(CORPUS / "mixed_records_list.json")]
    assert mixed["count"] == 2
    assert any("got the number 42" in reason for reason in mixed["reasons"])
    mapbi3 = files.rejects_by_file[str(CORPUS / "bad_MAPbI3_no_hydride.cif")]
    (reason,) = mapbi3["reasons"]
    assert reason.startswith("not a metal hydride")
    data = report.as_dict()["files"]
    assert data["without_energy"] == GOOD - SCORED
    lines = report.lines()
    assert lines[0] == (
        "files: 24 hydrides, 7 with a formation energy, 7 with a storage score, "
        "27 rejected"
    )
    assert any("17 without energy" in line for line in lines)
    assert f"    rejected from {CORPUS / 'bad_empty.cif'}: 1" in lines


def test_file_of_record_names():
    assert file_of("/d/a.json[3]") == "/d/a.json"
    assert file_of("/d/b.cif#1") == "/d/b.cif"
    assert file_of("/d/c.csv:row 2 (mp-1)") == "/d/c.csv"
    assert file_of("/d/t.extxyz[frame 4]") == "/d/t.extxyz"
    assert file_of("/d/POSCAR") == "/d/POSCAR"
