import gzip
import json
import uuid

import pytest

from matforge.data.references import (
    ensure_references,
    known_documents,
    load_references,
    read_references,
)
from matforge.errors import DataNotFoundError
from matforge.settings import load_settings
from matforge.stores import StoreFactory


@pytest.fixture
def small_file(shared_data, tmp_path):
    with gzip.open(shared_data / "mp_binaries_reference.json.gz", "rt") as handle:
        records = json.load(handle)[:40]
    records.append({"material_id": "mp-0", "structure": {"not": "a structure"}})
    path = tmp_path / "refs.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(records, handle)
    return path


def _factory(path):
    settings = load_settings(
        store={"uri": f"memory://{uuid.uuid4().hex}"},
        candidates={"references_file": str(path)},
    )
    return StoreFactory(settings)


def test_references_are_light_and_broken_records_skipped(small_file, caplog):
    docs = list(read_references(small_file))
    assert len(docs) == 40
    assert "mp-0" in caplog.text
    doc = docs[0].model_dump()
    assert set(doc) == {
        "material_id",
        "formula",
        "reduced_formula",
        "structure",
        "source",
        "content_hash",
        "last_updated",
    }
    assert doc["source"] == "offline:refs.json.gz"


def test_references_load_once(small_file):
    with _factory(small_file) as factory:
        assert ensure_references(factory) == 40
        store = factory.store("references")
        stamps = {d["material_id"]: d["last_updated"] for d in store.query()}
        assert ensure_references(factory) == 0  # already there: nothing read
        again = load_references(factory)  # an explicit reload changes nothing
        assert len(again.unchanged) == 40
        assert not again.inserted
        assert not again.updated
        assert {d["material_id"]: d["last_updated"] for d in store.query()} == stamps


def test_known_documents_by_reduced_formula(small_file):
    with _factory(small_file) as factory:
        ensure_references(factory)
        store = factory.store("references")
        some = store.query_one()
        found = known_documents([store], [some["reduced_formula"], "XeH9"])
        assert list(found) == [some["reduced_formula"]]
        assert some["material_id"] in {
            d["material_id"] for d in found[some["reduced_formula"]]
        }


def test_missing_references_file_is_one_clear_error(tmp_path):
    with (
        _factory(tmp_path / "absent.json.gz") as factory,
        pytest.raises(DataNotFoundError, match=r"absent\.json\.gz"),
    ):
        ensure_references(factory)
