"""The OPTIMADE builder: standard fields, provider fields, incremental, idempotent."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from optimade.adapters.structures.pymatgen import get_pymatgen
from optimade.models import StructureResource
from pymatgen.core import Lattice, Structure
from serve_helpers import T0, candidate_docs, hydride_docs, store_sources

import matforge.builders.optimade as optimade_builder
from matforge.builders.optimade import (
    OptimadeBuilder,
    build_optimade,
    candidate_to_optimade,
)
from matforge.schemas.optimade import (
    PROVIDER_FIELDS,
    UNSERVED_FIELDS,
    structure_attributes,
)
from matforge.stores import StoreFactory, upsert_documents


def _entries(factory: StoreFactory) -> dict[str, dict]:
    docs = factory.store("optimade_structures")._collection.find({}, {"_id": 0})
    return {d["id"]: d for d in docs}


def _resource(entry: dict) -> StructureResource:
    """The entry as the OPTIMADE server publishes it, validated by optimade."""
    attributes = {
        (f"_matforge_{k}" if k in PROVIDER_FIELDS else k): v
        for k, v in entry.items()
        if k not in UNSERVED_FIELDS | {"id", "type"}
    }
    return StructureResource(id=entry["id"], type="structures", attributes=attributes)


def test_standard_fields_of_rutile_mgh2(mgh2):
    a = structure_attributes(mgh2)
    assert a["elements"] == ["H", "Mg"]
    assert a["nelements"] == 2
    assert a["elements_ratios"] == pytest.approx([2 / 3, 1 / 3])
    assert a["chemical_formula_reduced"] == "H2Mg"
    assert a["chemical_formula_anonymous"] == "A2B"
    assert a["chemical_formula_descriptive"] == "Mg2H4"
    assert a["dimension_types"] == [1, 1, 1]
    assert a["nperiodic_dimensions"] == 3
    assert a["nsites"] == 6
    assert a["structure_features"] == []
    np.testing.assert_allclose(a["lattice_vectors"], mgh2.lattice.matrix)
    np.testing.assert_allclose(a["cartesian_site_positions"], mgh2.cart_coords)
    assert a["species_at_sites"] == [s.symbol for s in mgh2.species]
    assert a["species"] == [
        {"name": "H", "chemical_symbols": ["H"], "concentration": [1.0]},
        {"name": "Mg", "chemical_symbols": ["Mg"], "concentration": [1.0]},
    ]


def test_a_candidate_entry_validates_and_round_trips(shared_data):
    doc = next(d for d in candidate_docs(shared_data, 5) if d["status"] == "candidate")
    entry = candidate_to_optimade(doc)
    resource = _resource(entry)  # optimade's own model accepts it
    assert resource.id == doc["candidate_id"]
    back = get_pymatgen(resource)
    original = Structure.from_dict(doc["structure"])
    np.testing.assert_allclose(back.lattice.matrix, original.lattice.matrix)
    np.testing.assert_allclose(back.cart_coords, original.cart_coords, atol=1e-9)
    assert [s.symbol for s in back.species] == [s.symbol for s in original.species]
    assert entry["kind"] == "candidate"
    assert entry["storage_score"] == doc["storage_score"]
    assert entry["formation_energy_per_atom"] == doc["formation_energy_per_atom"]
    assert entry["e_above_hull"] == doc["e_above_hull"]
    assert entry["is_novel"] is doc["is_novel"]
    assert entry["is_stable"] is doc["is_stable"]
    assert entry["known_id"] == doc["matched_id"]
    assert (entry["same_formula"], entry["same_ratio"]) == (
        doc["same_formula"],
        doc["same_ratio"],
    )
    assert (entry["run_id"], entry["potential"]) == (doc["run_id"], "sevennet-0")
    assert entry["last_modified"] == doc["last_updated"].replace(microsecond=0)
    assert entry["immutable_id"].startswith(doc["candidate_id"] + "@")
    # the same document always gives the same entry
    assert candidate_to_optimade(doc)["content_hash"] == entry["content_hash"]


def test_species_order_does_not_depend_on_set_order():
    s = Structure(
        Lattice.cubic(4.0),
        ["Ti", "H", "Zr", "H", "Li"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0.5], [0, 0, 0.5]],
    )
    attributes = structure_attributes(s)
    assert [sp["name"] for sp in attributes["species"]] == ["H", "Li", "Ti", "Zr"]
    assert attributes["chemical_formula_descriptive"] == "LiZrTiH2"  # no ones


def test_build_serves_valid_candidates_and_hydrides_and_rerun_changes_nothing(
    factory_with_sources,
):
    factory, candidates, hydrides = factory_with_sources
    summary = build_optimade(factory, progress=False)
    served = [d for d in candidates if d["status"] == "candidate"]
    assert summary.inserted == len(served) + len(hydrides)
    assert summary.failed == 0
    entries = _entries(factory)
    assert set(entries) == {d["candidate_id"] for d in served} | {
        d["material_id"] for d in hydrides
    }
    kinds = {e["kind"] for e in entries.values()}
    assert kinds == {"candidate", "hydride"}
    for entry in entries.values():
        _resource(entry)
    hydride = entries[hydrides[0]["material_id"]]
    assert hydride["known_id"] == hydrides[0]["material_id"]
    assert hydride["licence"] == hydrides[0]["licence"]
    assert hydride["is_novel"] is None

    stamps = {i: e["last_updated"] for i, e in entries.items()}
    again = build_optimade(factory, progress=False)
    assert (again.processed, again.inserted, again.updated, again.removed) == (
        0,
        0,
        0,
        0,
    )
    assert {i: e["last_updated"] for i, e in _entries(factory).items()} == stamps


def test_build_follows_changes_of_the_sources(factory_with_sources):
    factory, candidates, hydrides = factory_with_sources
    build_optimade(factory, progress=False)
    before = _entries(factory)
    served = [d for d in candidates if d["status"] == "candidate"]

    changed = dict(served[0])
    changed["formation_energy_dft_per_atom"] = -0.321
    changed["last_updated"] = changed["last_updated"] + timedelta(hours=1)
    demoted = dict(
        served[1], status="duplicate", duplicate_of=served[0]["candidate_id"]
    )
    demoted["last_updated"] = demoted["last_updated"] + timedelta(hours=1)
    for doc in (changed, demoted):
        doc["content_hash"] += "-changed"
    upsert_documents(factory.store("candidates"), [changed, demoted], "candidate_id")
    factory.store("hydrides").remove_docs({"material_id": hydrides[0]["material_id"]})

    summary = build_optimade(factory, progress=False)
    assert (summary.processed, summary.updated, summary.removed) == (1, 1, 2)
    after = _entries(factory)
    assert after[changed["candidate_id"]]["formation_energy_dft_per_atom"] == -0.321
    assert (
        after[changed["candidate_id"]]["immutable_id"]
        != (before[changed["candidate_id"]]["immutable_id"])
    )
    assert demoted["candidate_id"] not in after
    assert hydrides[0]["material_id"] not in after
    untouched = served[2]["candidate_id"]
    assert after[untouched]["last_updated"] == before[untouched]["last_updated"]


def test_a_new_conversion_converts_every_entry_again(factory_with_sources, monkeypatch):
    factory = factory_with_sources[0]
    first = build_optimade(factory, progress=False)
    monkeypatch.setattr(optimade_builder, "CONVERSION_VERSION", 999)
    monkeypatch.setattr("matforge.schemas.optimade.CONVERSION_VERSION", 999)
    assert len(list(OptimadeBuilder.from_factory(factory).get_items())) == (
        first.inserted
    )
    again = build_optimade(factory, progress=False)
    assert again.updated == first.inserted
    assert {e["conversion"] for e in _entries(factory).values()} == {999}


def test_a_disordered_hydride_is_skipped_and_the_others_kept(factory_with_sources):
    factory, _, hydrides = factory_with_sources
    odd = dict(hydrides[1])
    structure = Structure.from_dict(odd["structure"])
    structure.replace(0, {"Mg": 0.5, "Ca": 0.5})
    odd.update(material_id="mf-disordered", structure=structure.as_dict())
    upsert_documents(factory.store("hydrides"), [odd], "material_id")
    summary = build_optimade(factory, progress=False)
    assert summary.failed == 1
    assert "mf-disordered" in summary.failures[0]
    assert "disordered" in summary.failures[0]
    entries = _entries(factory)
    assert "mf-disordered" not in entries
    assert hydrides[1]["material_id"] in entries


def test_embedded_store_build_is_idempotent(shared_data, embedded_settings):
    with StoreFactory(embedded_settings) as factory:
        store_sources(
            factory, candidate_docs(shared_data, 12), hydride_docs(shared_data, 5)
        )
        first = build_optimade(factory, progress=False)
        assert first.inserted > 10
        again = build_optimade(factory, progress=False)
        assert again.processed == 0
        assert len(_entries(factory)) == first.inserted
        entry = next(iter(_entries(factory).values()))
        assert entry["source_last_updated"].replace(tzinfo=None) >= T0.replace(
            tzinfo=None
        )


@pytest.fixture
def factory_with_sources(shared_data, memory_factory):
    candidates = candidate_docs(shared_data, 30)
    hydrides = hydride_docs(shared_data, 10)
    store_sources(memory_factory, candidates, hydrides)
    return memory_factory, candidates, hydrides


def test_an_entry_that_is_not_optimade_is_skipped_and_named(
    factory_with_sources, monkeypatch
):
    factory, _, hydrides = factory_with_sources
    convert = optimade_builder._CONVERTERS["hydrides"]
    odd_id = hydrides[2]["material_id"]

    def converter(source, build):
        doc = convert(source, build)
        if source["material_id"] == odd_id:
            doc["lattice_vectors"] = doc["lattice_vectors"][:2]
        return doc

    monkeypatch.setitem(optimade_builder._CONVERTERS, "hydrides", converter)
    summary = build_optimade(factory, progress=False)
    assert summary.failed == 1
    assert odd_id in summary.failures[0]
    assert "lattice_vectors" in summary.failures[0]
    entries = _entries(factory)
    assert odd_id not in entries
    assert hydrides[1]["material_id"] in entries
