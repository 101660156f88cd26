"""A real uvicorn server on a loopback port: the validator, pymatgen, errors."""

from __future__ import annotations

import socket

import pytest
import requests
from serve_helpers import live_server, populated, shared_dir

from matforge.errors import MatforgeError
from matforge.serve.app import bind_socket, create_app, serve
from matforge.settings import load_settings

FILTER = 'elements HAS "H" AND _matforge_storage_score > 0.01'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("live-home")
    with populated(shared_dir(), home, candidates=40, hydrides=30) as factory:
        entries = list(
            factory.store("optimade_structures")._collection.find({}, {"_id": 0})
        )
        with live_server(create_app(factory.settings, factory)) as url:
            yield url, entries


def test_the_server_answers_on_loopback(server):
    url, entries = server
    response = requests.get(f"{url}/v1/info", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.api+json")
    body = requests.get(f"{url}/v1/structures?page_limit=1", timeout=10).json()
    assert body["meta"]["data_available"] == len(entries)
    page = requests.get(url + "/", timeout=10)
    assert "<title>matforge" in page.text


def test_optimade_validator_reports_no_failures(server):
    from optimade.validator import ImplementationValidator

    url, _ = server
    validator = ImplementationValidator(base_url=url, verbosity=-1)
    validator.validate_implementation()
    results = validator.results
    assert results.failure_count == 0, results.failure_messages
    assert results.internal_failure_count == 0, results.internal_failure_messages
    assert results.success_count > 30


def test_pymatgen_optimade_rester_gets_structures(server):
    from pymatgen.core import Structure
    from pymatgen.ext.optimade import OptimadeRester

    url, entries = server
    rester = OptimadeRester(url, timeout=30)
    found = rester.get_structures_with_filter(FILTER)
    assert list(found) == [url]
    structures = found[url]
    expected = {
        e["id"]
        for e in entries
        if "H" in e["elements"] and (e.get("storage_score") or 0) > 0.01
    }
    assert len(expected) > 20  # more than one page: the rester follows `next`
    assert set(structures) == expected
    by_id = {e["id"]: e for e in entries}
    for entry_id, structure in structures.items():
        assert isinstance(structure, Structure)
        assert structure.composition.reduced_formula.replace(" ", "")
        assert len(structure) == by_id[entry_id]["nsites"]
        assert "H" in {el.symbol for el in structure.composition.elements}


def test_bad_requests_get_4xx_errors_and_the_server_keeps_serving(server):
    url, _ = server
    bad = {
        f"{url}/v1/structures?filter=elements HAS": 400,
        f"{url}/v1/structures?filter=frobnication > 1": 400,
        f"{url}/v1/structures?page_limit=100000000": 403,
        f"{url}/v1/structures/no-such-entry": 404,
    }
    for target, status in bad.items():
        response = requests.get(target, timeout=10)
        assert response.status_code == status, target
        assert response.json()["errors"][0]["status"] == str(status)
        ok = requests.get(f"{url}/v1/structures?filter={FILTER}", timeout=10)
        assert ok.status_code == 200
        assert ok.json()["data"]


def test_a_port_in_use_is_one_clear_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(MatforgeError, match=rf"port {port} on 127\.0\.0\.1"):
            bind_socket("127.0.0.1", port)
        with pytest.raises(MatforgeError, match="already in use") as caught:
            serve(load_settings(), port=port)
        assert "\n" not in str(caught.value)
    finally:
        taken.close()


def test_a_host_that_cannot_be_bound_is_one_clear_error():
    with pytest.raises(MatforgeError, match=r"192\.0\.2\.1"):
        bind_socket("192.0.2.1", 0)  # TEST-NET-1: not an address of this machine


def test_serve_runs_until_interrupted(shared_data, tmp_path):
    """``serve`` itself, in a child process on an embedded store, stopped by Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from serve_helpers import candidate_docs, hydride_docs, store_sources

    from matforge.builders.optimade import build_optimade
    from matforge.stores import StoreFactory

    settings = load_settings(home=tmp_path / "home")
    with StoreFactory(settings) as factory:
        store_sources(
            factory, candidate_docs(shared_data, 8), hydride_docs(shared_data, 4)
        )
        count = build_optimade(factory, progress=False).inserted
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    code = (
        "from matforge.serve.app import serve\n"
        "from matforge.settings import load_settings\n"
        f"serve(load_settings(home={str(tmp_path / 'home')!r}), port={port},"
        " announce=print, access_log=False)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    try:
        line = child.stdout.readline()
        assert f"serving {count} OPTIMADE structures" in line, line
        assert f"http://127.0.0.1:{port}/" in line
        deadline = time.monotonic() + 60
        while True:
            try:
                body = requests.get(f"http://127.0.0.1:{port}/v1/structures", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        assert body.json()["meta"]["data_available"] == count
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
