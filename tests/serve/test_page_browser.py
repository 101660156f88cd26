"""The page in headless Chromium: load, filter by an element, open, download CIF.

Debian's chromium driven by Playwright (``apt-get install chromium``; ``pip
install playwright``; never ``playwright install``). Skipped, with the reason,
when either is missing. Set SERVE_TEST_SCREENSHOTS to a folder to keep the
screenshots.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pymatgen.io.cif import CifParser
from serve_helpers import RUN_ID, live_server, populated, shared_dir

from matforge.serve.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install)"
    )
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    home = tmp_path_factory.mktemp("page-home")
    report = home / "reports" / RUN_ID
    report.mkdir(parents=True)
    (report / "report.html").write_text("<h1>Campaign report</h1>")
    with populated(shared_dir(), home, candidates=40, hydrides=20) as factory:
        entries = list(
            factory.store("optimade_structures")._collection.find({}, {"_id": 0})
        )
        with live_server(create_app(factory.settings, factory)) as url:
            yield url, entries


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("SERVE_TEST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def test_load_filter_open_and_download(browser, site, tmp_path):
    url, entries = site
    page = browser.new_page(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(url + "/")
    rows = page.locator("#table tbody tr")
    rows.first.wait_for()
    candidates = [e for e in entries if e["kind"] == "candidate"]
    assert rows.count() == min(20, len(candidates))
    assert "matching entries" in page.locator("#summary").inner_text()
    # ranked: best storage score first
    best = max(candidates, key=lambda e: e["storage_score"])
    assert rows.first.get_attribute("data-id") == best["id"]
    assert page.locator("#reports a").count() == 1
    _shot(page, tmp_path, "page-list")

    # filter by an element
    element = "Li"
    with_element = [e for e in candidates if element in e["elements"]]
    assert 0 < len(with_element) < len(candidates)
    page.fill("input[name=elements]", element)
    page.click("button[type=submit]")
    page.wait_for_function(
        "n => document.querySelectorAll('#table tbody tr').length === n",
        arg=min(20, len(with_element)),
    )
    assert 'elements HAS ALL "Li"' in page.locator("#filter-text").inner_text()
    ids = page.locator("#table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert set(ids) <= {e["id"] for e in with_element}
    _shot(page, tmp_path, "page-filtered")

    # open a candidate
    chosen = next(e for e in with_element if e["id"] == ids[0])
    page.locator("#table tbody tr").first.locator("a").first.click()
    page.locator("#detail").wait_for(state="visible")
    page.wait_for_function(
        "() => document.querySelector('#properties tbody').children.length > 5"
    )
    assert chosen["id"] in page.locator("#detail-title").inner_text()
    page.wait_for_function(
        "() => { const i = document.getElementById('picture');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    assert (
        page.locator("#detail-report a")
        .get_attribute("href")
        .endswith(f"reports/{RUN_ID}/report.html")
    )
    _shot(page, tmp_path, "page-detail")

    # download its CIF
    with page.expect_download() as info:
        page.click("#cif")
    download = info.value
    assert download.suggested_filename.endswith(".cif")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    structure = CifParser(saved).parse_structures(primitive=False)[0]
    assert len(structure) == chosen["nsites"]
    assert (
        sorted(el.symbol for el in structure.composition.elements) == chosen["elements"]
    )

    # back to the list, then a bad element symbol is explained, not sent
    page.click("#back")
    page.locator("#list").wait_for(state="visible")
    page.fill("input[name=elements]", "Xx1")
    page.click("button[type=submit]")
    page.locator("#error").wait_for(state="visible")
    assert "not element symbols" in page.locator("#error").inner_text()
    assert problems == []
    page.close()
