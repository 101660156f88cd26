"""The OPTIMADE server and the page's files, through FastAPI's test client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pymatgen.core import Structure
from pymatgen.io.cif import CifParser
from serve_helpers import RUN_ID, populated

from matforge.serve.app import create_app

P = "_matforge_"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from serve_helpers import shared_dir

    home = tmp_path_factory.mktemp("serve-home")
    report = home / "reports" / RUN_ID
    report.mkdir(parents=True)
    (report / "report.html").write_text("<h1>campaign report</h1>")
    (report / "top.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with populated(shared_dir(), home) as factory:
        entries = list(
            factory.store("optimade_structures")._collection.find({}, {"_id": 0})
        )
        app = create_app(factory.settings, factory)
        with TestClient(app) as client:
            yield client, entries


def _errors(response) -> list[dict]:
    body = response.json()
    assert "errors" in body, body
    return body["errors"]


def test_info_declares_every_provider_field(served):
    client, _ = served
    info = client.get("/v1/info").json()["data"]["attributes"]
    assert "structures" in info["available_endpoints"]
    props = client.get("/v1/info/structures").json()["data"]["properties"]
    assert props[P + "storage_score"]["type"] == "float"
    assert props[P + "e_above_hull"]["unit"] == "eV/atom"
    assert props[P + "is_novel"]["type"] == "boolean"
    assert props[P + "kind"]["type"] == "string"
    assert "Storage Score" in props[P + "storage_score"]["description"]
    meta = client.get("/v1/info").json()["meta"]
    assert meta["provider"]["prefix"] == "matforge"


def test_a_filter_returns_the_entries_it_names(served):
    client, entries = served
    text = 'elements HAS "H" AND _matforge_storage_score > 0.01'
    response = client.get(
        "/v1/structures",
        params={"filter": text, "page_limit": 500, "response_fields": "id"},
    )
    assert response.status_code == 200
    got = {d["id"] for d in response.json()["data"]}
    expected = {
        e["id"]
        for e in entries
        if "H" in e["elements"] and (e.get("storage_score") or 0) > 0.01
    }
    assert got == expected
    assert 0 < len(expected) < len(entries)
    assert response.json()["meta"]["data_returned"] == len(expected)


def test_booleans_kinds_sorting_and_pages(served):
    client, entries = served
    response = client.get(
        "/structures",
        params={
            "filter": '_matforge_kind="candidate" AND _matforge_is_novel=TRUE',
            "sort": "-_matforge_storage_score",
            "page_limit": 3,
            "response_fields": "id,_matforge_storage_score,_matforge_is_novel",
        },
    )
    body = response.json()
    assert response.status_code == 200, body
    novel = [e for e in entries if e["kind"] == "candidate" and e["is_novel"]]
    best = sorted(novel, key=lambda e: -e["storage_score"])[:3]
    assert [d["id"] for d in body["data"]] == [e["id"] for e in best]
    assert all(d["attributes"][P + "is_novel"] is True for d in body["data"])
    assert body["meta"]["more_data_available"] is (len(novel) > 3)
    following = client.get(body["links"]["next"]).json()
    assert (
        following["data"][0]["id"]
        == sorted(novel, key=lambda e: -e["storage_score"])[3]["id"]
    )


def test_one_entry_and_its_fields(served):
    client, entries = served
    entry = next(e for e in entries if e["kind"] == "candidate")
    body = client.get(f"/v1/structures/{entry['id']}").json()
    attributes = body["data"]["attributes"]
    assert attributes["nsites"] == entry["nsites"]
    assert attributes[P + "run_id"] == RUN_ID
    assert attributes[P + "storage_score"] == entry["storage_score"]
    assert "content_hash" not in attributes
    assert not any(k.startswith(P + "source_") for k in attributes)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/v1/structures?filter=elements HAS", 400),  # malformed filter
        ('/v1/structures?filter=elements HAS "H" AND (nsites > 2', 400),
        ("/v1/structures?filter=frobnication=1", 400),  # unknown field
        ("/v1/structures?filter=_matforge_frobnication=1", 400),
        ("/v1/structures?response_fields=frobnication", 400),
        ("/v1/structures?sort=frobnication", 400),
        ("/v1/structures?page_limit=1000000", 403),  # absurd page size
        ("/v1/structures?page_limit=-5", 400),
        ("/v1/structures/rlx-does-not-exist", 404),  # unknown entry id
        ("/v1/frobnications", 404),
    ],
)
def test_bad_requests_get_optimade_errors_and_the_server_keeps_serving(
    served, url, status
):
    client, _ = served
    response = client.get(url)
    assert response.status_code == status, response.text
    errors = _errors(response)
    assert errors[0]["status"] == str(status)
    assert errors[0].get("detail") or errors[0].get("title")
    assert "meta" in response.json()
    assert client.get("/v1/structures?page_limit=1").status_code == 200


def test_unknown_id_names_the_id(served):
    client, _ = served
    errors = _errors(client.get("/v1/structures/rlx-does-not-exist"))
    assert "rlx-does-not-exist" in errors[0]["detail"]


def test_base_url_setting_shapes_the_links(shared_data, tmp_path):
    base = "https://example.org/matforge"
    with populated(
        shared_data, tmp_path, candidates=10, hydrides=5, serve={"base_url": base}
    ) as factory:
        client = TestClient(create_app(factory.settings, factory))
        body = client.get("/v1/structures?page_limit=2").json()
        assert body["links"]["next"].startswith("https://example.org/")
        info = client.get("/v1/info").json()["data"]["attributes"]
        assert info["available_api_versions"][0]["url"] == base + "/v1"


def test_the_environment_and_optimade_file_do_not_configure_the_server(
    shared_data, tmp_path, monkeypatch
):
    config = tmp_path / "optimade.json"
    config.write_text(json.dumps({"page_limit_max": 1000, "insert_test_data": True}))
    monkeypatch.setenv("OPTIMADE_CONFIG_FILE", str(config))
    monkeypatch.setenv("OPTIMADE_PAGE_LIMIT_MAX", "2000")
    with populated(
        shared_data, tmp_path, candidates=20, hydrides=20, serve={"page_limit_max": 21}
    ) as factory:
        client = TestClient(create_app(factory.settings, factory))
        assert len(client.get("/v1/structures?page_limit=21").json()["data"]) == 21
        refused = client.get("/v1/structures?page_limit=22")
        assert refused.status_code == 403
        assert "21" in _errors(refused)[0]["detail"]
        # optimade's test data was not inserted
        assert client.get("/v1/references").json()["data"] == []
        assert client.get("/v1/links").json()["data"] == []


def test_cif_download_is_the_entry_crystal(served):
    client, entries = served
    entry = next(e for e in entries if e["kind"] == "candidate")
    response = client.get(f"/extensions/matforge/structures/{entry['id']}.cif")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("chemical/x-cif")
    assert ".cif" in response.headers["content-disposition"]
    parsed = CifParser.from_str(response.text).parse_structures(primitive=False)[0]
    original = Structure(
        entry["lattice_vectors"],
        entry["species_at_sites"],
        entry["cartesian_site_positions"],
        coords_are_cartesian=True,
    )
    assert parsed.composition == original.composition
    assert parsed.lattice.abc == pytest.approx(original.lattice.abc, rel=1e-6)


def test_picture_is_svg_and_unknown_ids_are_404(served):
    client, entries = served
    entry = entries[0]
    response = client.get(f"/extensions/matforge/structures/{entry['id']}.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.text.lstrip().startswith("<?xml")
    assert "<svg" in response.text
    for suffix in ("svg", "cif"):
        missing = client.get(f"/extensions/matforge/structures/nope.{suffix}")
        assert missing.status_code == 404
        assert _errors(missing)[0]["status"] == "404"


def test_page_and_reports(served):
    client, _ = served
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "extensions/matforge/static/app.js" in page.text
    assert client.get("/extensions/matforge/static/app.js").status_code == 200
    listing = client.get("/extensions/matforge/reports").json()["reports"]
    assert [r["run_id"] for r in listing] == [RUN_ID]
    report = client.get("/" + listing[0]["url"])
    assert report.status_code == 200
    assert "campaign report" in report.text
    png = client.get(f"/extensions/matforge/reports/{RUN_ID}/top.png")
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    outside = client.get("/extensions/matforge/reports/../../../etc/passwd")
    assert outside.status_code == 404


def test_nothing_writes(served):
    client, _ = served
    for method in ("post", "put", "delete", "patch"):
        response = getattr(client, method)("/v1/structures")
        assert response.status_code in {404, 405}, method


def test_importing_the_server_has_no_side_effects(tmp_path):
    log_dir = tmp_path / "optimade-logs"
    env = dict(os.environ, OPTIMADE_LOG_DIR=str(log_dir), HOME=str(tmp_path))
    code = (
        "import matforge.serve.app, matforge.serve.collections, matforge.serve.page\n"
        "import optimade.server.create_app\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not log_dir.exists()
    assert result.stdout == ""
    assert not (Path(tmp_path) / ".matforge").exists()


def test_the_mongodb_path_with_mongomock_in_the_servers_place(shared_data, tmp_path):
    from matforge.serve.collections import MongoStructures

    with populated(shared_data, tmp_path, candidates=20, hydrides=10) as factory:
        entries = list(
            factory.store("optimade_structures")._collection.find({}, {"_id": 0})
        )
        factory.backend = "mongodb"  # the stores are open: only the path changes
        app = create_app(factory.settings, factory)
        assert isinstance(app.state.structures, MongoStructures)
        client = TestClient(app)
        body = client.get(
            "/v1/structures",
            params={
                "filter": '_matforge_kind="candidate" AND _matforge_is_stable=TRUE',
                "sort": "-_matforge_storage_score",
                "response_fields": "id,last_modified",
            },
        ).json()
        stable = [e for e in entries if e["kind"] == "candidate" and e["is_stable"]]
        best = sorted(stable, key=lambda e: -e["storage_score"])
        assert [d["id"] for d in body["data"]] == [e["id"] for e in best][:20]
        assert body["data"][0]["attributes"]["last_modified"].endswith("Z")
        assert client.get("/v1/structures/no-such-entry").status_code == 404
        cif = client.get(f"/extensions/matforge/structures/{entries[0]['id']}.cif")
        assert cif.status_code == 200


def test_a_wrongly_versioned_url_is_553_without_a_logged_traceback(served, caplog):
    client, _ = served
    with caplog.at_level("DEBUG"):
        response = client.get("/v123123/info")
    assert response.status_code == 553
    assert _errors(response)[0]["status"] == "553"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("answered /v123123/info with 553" in r.message for r in caplog.records)
    assert client.get("/v1/info").status_code == 200


def _without_clock(body: dict) -> dict:
    meta = dict(body.get("meta", {}))
    meta.pop("time_stamp", None)
    return body | {"meta": meta}


def test_unchecked_responses_are_the_checked_ones(shared_data, tmp_path):
    """Responses served without the per-response check equal the checked ones."""
    paths = [
        "/v1/structures?page_limit=7&sort=-_matforge_storage_score",
        '/v1/structures?filter=elements HAS "H"&response_fields=nsites,_matforge_kind',
        "/structures?filter=_matforge_is_novel=TRUE&page_limit=3",
        "/v1/structures?filter=elements HAS&page_limit=3",  # malformed: 400
    ]
    bodies = {}
    with populated(shared_data, tmp_path, candidates=12, hydrides=6) as factory:
        entry_id = next(iter(factory.store("optimade_structures").distinct("id")))
        for check in (False, True):
            settings = factory.settings.model_copy(deep=True)
            settings.serve.validate_responses = check
            client = TestClient(create_app(settings, factory))
            got = [client.get(p) for p in [*paths, f"/v1/structures/{entry_id}"]]
            bodies[check] = [(r.status_code, _without_clock(r.json())) for r in got]
            # which route answered: the response models turn a float count
            # into an integer, plain dictionaries pass it on as it is
            app = create_app(settings, factory)
            odd = dict(app.state.structures.entry(entry_id))
            odd.update(id="odd", nsites=float(odd["nsites"]))
            app.state.structures.insert([odd])
            nsites = TestClient(app).get("/v1/structures/odd").json()["data"]
            assert isinstance(nsites["attributes"]["nsites"], int) is check
    assert [code for code, _ in bodies[False]] == [200, 200, 200, 400, 200]
    assert bodies[False] == bodies[True]
