"""The Materials Project source, against recorded API responses (no network)."""

from __future__ import annotations

import copy
import csv
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from mp_api.client import MPRester
from mp_api.client.core.client import _Rester
from mp_api.client.core.settings import MAPI_CLIENT_SETTINGS
from pymatgen.core import Structure
from pymatgen.io.cif import CifParser

from matforge.data import mp
from matforge.data.mp import (
    MaterialsProjectAuthError,
    MaterialsProjectError,
    MaterialsProjectUnreachableError,
    mp_records,
)
from matforge.errors import MatforgeError

FIXTURE = Path(__file__).parent / "fixtures" / "mp_summary_h.json"
KEY = "Zq3xTESTKEYnot4realUSE0nly1nTest"  # 32 characters, as mp-api demands
HOST = "https://api.materialsproject.org/"
SUMMARY = HOST + "materials/summary/"
HYDRIDES = ["mp-34465", "mp-38011", "mp-1217074", "mp-861605", "mp-697038", "mp-569051"]
NON_METAL = {"mp-643062", "mp-625474"}  # NH4I and H2SO4: H but no metal


def shared_data() -> Path:
    """Return the shared data folder (MATFORGE_SHARED_DATA or ../shared/data)."""
    env = os.environ.get("MATFORGE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture
def recording() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(autouse=True)
def fresh_client() -> None:
    """Forget mp-api's process-wide caches of the two /heartbeat answers."""
    _Rester._get_heartbeat_info.cache_clear()
    MPRester.get_emmet_version.cache_clear()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def page_matcher(expected: dict[str, str]):
    """Match a summary request by its query (``_fields`` compared as a set)."""

    def normal(query: dict[str, str]) -> dict[str, Any]:
        return {**query, "_fields": set(query.get("_fields", "").split(","))}

    def match(request: Any) -> tuple[bool, str]:
        got = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        ok = normal(got) == normal(expected)
        return ok, "" if ok else f"query {got} is not {expected}"

    return match


def serve(api: responses.RequestsMock, recording: dict[str, Any]) -> None:
    """Serve the recorded heartbeat and summary pages."""
    api.get(HOST + "heartbeat", json=recording["heartbeat"])
    for page in recording["pages"]:
        api.get(SUMMARY, json=page["response"], match=[page_matcher(page["params"])])


def summary_calls(api: responses.RequestsMock) -> list[Any]:
    return [c for c in api.calls if "/materials/summary/" in c.request.url]


def check_error(excinfo: pytest.ExceptionInfo, started: float) -> str:
    message = str(excinfo.value)
    assert isinstance(excinfo.value, MatforgeError)
    assert KEY not in message
    assert "\n" not in message
    assert "Traceback" not in message
    assert excinfo.value.__suppress_context__
    assert time.monotonic() - started < 5.0  # seconds, not mp-api's minutes
    return message


def test_fixture_is_small_and_in_the_api_shape(recording):
    assert FIXTURE.stat().st_size < 200_000
    assert recording["page_size"] == 3
    assert len(recording["pages"]) == 3
    total = sum(len(p["response"]["data"]) for p in recording["pages"])
    for page in recording["pages"]:
        assert set(page["response"]) == {"data", "meta"}
        assert page["response"]["meta"]["total_doc"] == total
        for doc in page["response"]["data"]:
            assert set(doc) == set(mp.FIELDS)


def test_yields_the_metal_hydrides_of_every_page(api, recording):
    serve(api, recording)
    pages: list[int] = []

    records = list(mp_records(KEY, page_size=3, progress=pages.append))

    assert [r.material_id for r in records] == HYDRIDES
    assert pages == [3, 3, 2]
    docs = {
        d["material_id"]: d for p in recording["pages"] for d in p["response"]["data"]
    }
    for record in records:
        doc = docs[record.material_id]
        assert record.error is None
        assert record.input == f"mp-api:{record.material_id}"
        assert record.structure == Structure.from_dict(doc["structure"])
        assert record.formation_energy_per_atom == doc["formation_energy_per_atom"]
        assert record.e_above_hull == doc["energy_above_hull"]
        assert record.band_gap == doc["band_gap"]
        assert record.provenance == "materials-project (mp-api)"
        assert record.licence == "CC-BY-4.0 (Materials Project)"
        assert record.energy_source == "Materials Project GGA/GGA+U, MP2020-corrected"
    assert not NON_METAL & {r.material_id for r in records}


def test_pages_with_skip_and_limit_and_sends_the_key_in_a_header(api, recording):
    serve(api, recording)

    list(mp_records(KEY, page_size=3))

    heartbeats = [c for c in api.calls if c.request.url.endswith("/heartbeat")]
    # matforge's bounded check, then mp-api's two (each cached for the process)
    assert len(heartbeats) == 3
    calls = summary_calls(api)
    assert len(api.calls) == len(heartbeats) + len(calls)
    queries = [parse_qs(urlsplit(c.request.url).query) for c in calls]
    assert [(q.get("_skip"), q["_limit"]) for q in queries] == [
        (None, ["3"]),
        (["3"], ["3"]),
        (["6"], ["2"]),
    ]
    for query, call in zip(queries, calls, strict=True):
        assert query["elements"] == ["H"]
        assert set(query["_fields"][0].split(",")) == set(mp.FIELDS)
        assert call.request.headers["x-api-key"] == KEY
        assert KEY not in call.request.url
    assert all("x-api-key" not in c.request.headers for c in heartbeats)


def test_unreadable_structure_becomes_a_failed_record(api, recording):
    broken = copy.deepcopy(recording)
    first, second = broken["pages"][0]["response"]["data"][:2]
    first["structure"] = {"lattice": "truncated"}  # Li2HN: a hydride
    del second["structure"]["sites"]
    second["formula_pretty"] = "H2O"  # not a hydride: skipped, not a reject
    serve(api, broken)

    records = list(mp_records(KEY, page_size=3))

    assert [r.material_id for r in records if r.error is None] == HYDRIDES[2:]
    [failed] = [r for r in records if r.error]
    assert failed.input == "mp-api:mp-34465"
    assert failed.structure is None
    assert "unreadable structure" in failed.error
    assert "truncated" in failed.snippet


def test_no_key_is_refused_before_any_request(api):
    for key in ("", "   "):
        with pytest.raises(MaterialsProjectAuthError) as excinfo:
            mp_records(key)
        assert str(excinfo.value) == (
            "no Materials Project API key: set MP_API_KEY or MATFORGE_MP_API_KEY"
        )
    assert not api.calls


def test_malformed_key_is_refused_before_any_request(api):
    started = time.monotonic()
    with pytest.raises(MaterialsProjectAuthError) as excinfo:
        list(mp_records("not-a-key"))
    assert "32 characters" in check_error(excinfo, started)
    assert "not-a-key" not in str(excinfo.value)
    assert not api.calls


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key(api, recording, status):
    api.get(HOST + "heartbeat", json=recording["heartbeat"])
    api.get(
        SUMMARY, status=status, json={"message": "Invalid authentication credentials"}
    )
    started = time.monotonic()

    with pytest.raises(MaterialsProjectAuthError) as excinfo:
        list(mp_records(KEY, page_size=3))

    message = check_error(excinfo, started)
    assert f"HTTP {status}" in message
    assert "rejected the API key" in message


def test_server_error_is_one_line(api, recording):
    api.get(HOST + "heartbeat", json=recording["heartbeat"])
    api.get(SUMMARY, status=500, json={"detail": "Internal Server Error"})
    started = time.monotonic()

    with pytest.raises(MaterialsProjectError) as excinfo:
        list(mp_records(KEY))

    assert check_error(excinfo, started) == (
        "the Materials Project API at api.materialsproject.org answered HTTP 500: "
        "Internal Server Error"
    )


def test_no_network_names_the_host(api):
    refused = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='api.materialsproject.org', port=443): Max retries "
        'exceeded with url: /heartbeat (Caused by NameResolutionError("Failed to '
        "resolve 'api.materialsproject.org'\"))"
    )
    api.get(HOST + "heartbeat", body=refused)
    started = time.monotonic()

    with pytest.raises(MaterialsProjectUnreachableError) as excinfo:
        list(mp_records(KEY))

    assert check_error(excinfo, started) == (
        "cannot reach the Materials Project API at api.materialsproject.org (its name "
        "could not be resolved); check the network connection"
    )


def test_connection_lost_while_paging(api, recording):
    api.get(HOST + "heartbeat", json=recording["heartbeat"])
    first = recording["pages"][0]
    api.get(SUMMARY, json=first["response"], match=[page_matcher(first["params"])])
    api.get(SUMMARY, body=requests.exceptions.ConnectionError("connection reset"))
    started = time.monotonic()

    with pytest.raises(MaterialsProjectUnreachableError) as excinfo:
        list(mp_records(KEY, page_size=3))

    message = check_error(excinfo, started)
    assert "api.materialsproject.org (connection failed)" in message
    assert len(summary_calls(api)) == 2


def test_silent_server_does_not_hang(monkeypatch):
    """A host that accepts the connection but never answers times out quickly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(
        target=lambda: accepted.append(server.accept()[0]), daemon=True
    )
    thread.start()
    port = server.getsockname()[1]
    monkeypatch.setattr(MAPI_CLIENT_SETTINGS, "ENDPOINT", f"http://127.0.0.1:{port}/")
    monkeypatch.setattr(mp, "TIMEOUT", (0.5, 0.5))
    started = time.monotonic()
    try:
        with pytest.raises(MaterialsProjectUnreachableError) as excinfo:
            list(mp_records(KEY))
    finally:
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        server.close()
    assert check_error(excinfo, started) == (
        "cannot reach the Materials Project API at 127.0.0.1 (timed out); "
        "check the network connection"
    )


def test_import_has_no_side_effects():
    code = "import sys, matforge.data.mp; print('mp_api' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    assert not out.stderr


def test_recorded_structures_are_the_real_mp_ones(recording):
    """The fixture's structures and energies are those of the shared MP data."""
    shared = shared_data()
    if not (shared / "hydrides_seed.json.gz").is_file():
        pytest.skip(f"shared data not found in {shared}")
    with gzip.open(shared / "hydrides_seed.json.gz", "rt") as handle:
        seed = {r["material_id"]: r for r in json.load(handle)}
    with (shared / "mp20_sample" / "train.csv").open(newline="") as handle:
        mp20 = {r["material_id"]: r for r in csv.DictReader(handle)}
    for page in recording["pages"]:
        for doc in page["response"]["data"]:
            structure = Structure.from_dict(doc["structure"])
            if doc["material_id"] in seed:
                row = seed[doc["material_id"]]
                assert structure == Structure.from_dict(row["structure"])
                assert doc["energy_above_hull"] == row["e_above_hull"]
            else:
                row = mp20[doc["material_id"]]
                [expected] = CifParser.from_str(row["cif"]).parse_structures(
                    primitive=False
                )
                assert structure == expected
                assert doc["energy_above_hull"] == float(row["e_above_hull"])
