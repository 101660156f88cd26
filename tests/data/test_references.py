import gzip
import json
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from pydantic import SecretStr

from matforge.data.mp import MaterialsProjectAuthError
from matforge.data.references import (
    ensure_references,
    known_documents,
    load_mp_references,
    load_references,
    mp_references,
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


MP_FIXTURE = Path(__file__).parent / "fixtures" / "mp_summary_h.json"
MP_HOST = "https://api.materialsproject.org/"
MP_KEY = "Zq3xTESTKEYnot4realUSE0nly1nTest"  # 32 characters, as mp-api demands


@pytest.fixture
def mp_api():
    """The Materials Project API, answering chemsys queries from the recording."""
    from mp_api.client import MPRester
    from mp_api.client.core.client import _Rester

    _Rester._get_heartbeat_info.cache_clear()
    MPRester.get_emmet_version.cache_clear()
    recording = json.loads(MP_FIXTURE.read_text())
    docs = [d for page in recording["pages"] for d in page["response"]["data"]]
    meta = recording["pages"][0]["response"]["meta"]

    def chemsys(doc):
        elements = {s["species"][0]["element"] for s in doc["structure"]["sites"]}
        return "-".join(sorted(elements))

    def answer(request):
        query = parse_qs(urlsplit(request.url).query)
        wanted = set(",".join(query["chemsys"]).split(","))
        fields = query["_fields"][0].split(",")
        data = [{f: d[f] for f in fields} for d in docs if chemsys(d) in wanted]
        return (
            200,
            {},
            json.dumps({"data": data, "meta": meta | {"total_doc": len(data)}}),
        )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(MP_HOST + "heartbeat", json=recording["heartbeat"])
        api.add_callback(responses.GET, MP_HOST + "materials/summary/", callback=answer)
        yield api


def test_materials_project_references_by_chemical_system(mp_api, small_file):
    refs = mp_references(MP_KEY, ["Mg-H", "H-N-Li"])
    assert sorted(r.material_id for r in refs) == ["mp-34465", "mp-569051"]
    assert {r.source for r in refs} == {"mp-api"}
    calls = [c for c in mp_api.calls if "/materials/summary/" in c.request.url]
    assert calls
    assert all(c.request.headers["x-api-key"] == MP_KEY for c in calls)
    with _factory(small_file) as factory:
        factory.settings.mp_api_key = SecretStr(MP_KEY)
        result = load_mp_references(factory, ["H-Mg"])
        assert result.inserted == ["mp-569051"]
        assert ensure_references(factory) == 40  # the offline file still loads once


def test_materials_project_references_need_a_key():
    with pytest.raises(MaterialsProjectAuthError, match="no Materials Project API key"):
        mp_references("", ["H-Mg"])
