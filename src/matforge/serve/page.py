"""The web page at ``/`` and the files it links to.

The page (``static/index.html`` with ``app.js`` and ``style.css``: plain HTML
and a little JavaScript) asks the OPTIMADE API of the same server for the
ranked entries, so every filter it offers is an OPTIMADE filter. Beside the API,
under OPTIMADE's extension prefix:

- ``/extensions/matforge/structures/{id}.cif``: the entry's crystal as CIF;
- ``/extensions/matforge/structures/{id}.svg``: a picture of it;
- ``/extensions/matforge/reports``: the campaign reports found under
  ``<home>/reports/<run id>/`` (JSON), and their files beneath it.

Every route reads; nothing writes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
EXTENSIONS = "/extensions/matforge"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_CACHED_PICTURES = 256


def _error(status: int, title: str, detail: str) -> JSONResponse:
    """Return an error in OPTIMADE's JSON:API shape."""
    return JSONResponse(
        {"errors": [{"status": str(status), "title": title, "detail": detail}]},
        status_code=status,
    )


class _Pictures:
    """The SVG pictures drawn so far, by immutable id (an entry's version)."""

    def __init__(self) -> None:
        self._svg: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, entry: dict[str, Any]) -> bytes:
        from matforge.serve.picture import structure_svg

        key = str(entry.get("immutable_id") or entry["id"])
        with self._lock:
            if key in self._svg:
                self._svg.move_to_end(key)
                return self._svg[key]
        svg = structure_svg(
            entry["lattice_vectors"],
            entry["cartesian_site_positions"],
            entry["species_at_sites"],
            title=entry.get("chemical_formula_descriptive"),
        )
        with self._lock:
            self._svg[key] = svg
            while len(self._svg) > _CACHED_PICTURES:
                self._svg.popitem(last=False)
        return svg


def entry_cif(entry: dict[str, Any]) -> str:
    """Return an entry's crystal as CIF text (space group P1, exact positions)."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    structure = Structure(
        Lattice(entry["lattice_vectors"]),
        entry["species_at_sites"],
        entry["cartesian_site_positions"],
        coords_are_cartesian=True,
    )
    return str(CifWriter(structure))


def report_runs(reports_dir: Path) -> list[dict[str, Any]]:
    """Return the campaign reports under a folder: run id, files, main page."""
    if not reports_dir.is_dir():
        return []
    runs = []
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        files = sorted(f.name for f in folder.iterdir() if f.is_file())
        if not files:
            continue
        main = next((f for f in ("report.html", "report.md") if f in files), files[0])
        base = f"{EXTENSIONS.lstrip('/')}/reports/{folder.name}"
        runs.append(
            {
                "run_id": folder.name,
                "url": f"{base}/{main}",
                "files": [f"{base}/{f}" for f in files],
            }
        )
    return runs


def page_router() -> APIRouter:
    """Return the routes of the page and its files."""
    router = APIRouter()
    pictures = _Pictures()

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    def _entry(request: Request, entry_id: str) -> dict[str, Any] | None:
        return request.app.state.structures.entry(entry_id)

    @router.get(f"{EXTENSIONS}/structures/{{entry_id}}.cif", include_in_schema=False)
    def cif(request: Request, entry_id: str) -> Response:
        entry = _entry(request, entry_id)
        if entry is None:
            return _error(404, "Not Found", f"no structures entry has id {entry_id!r}")
        formula = entry.get("chemical_formula_reduced") or "structure"
        name = _SAFE_NAME.sub("_", f"{formula}_{entry_id}") + ".cif"
        return Response(
            entry_cif(entry),
            media_type="chemical/x-cif",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get(f"{EXTENSIONS}/structures/{{entry_id}}.svg", include_in_schema=False)
    def picture(request: Request, entry_id: str) -> Response:
        entry = _entry(request, entry_id)
        if entry is None:
            return _error(404, "Not Found", f"no structures entry has id {entry_id!r}")
        return Response(
            pictures.get(entry),
            media_type="image/svg+xml",
            headers={"Cache-Control": "max-age=3600"},
        )

    @router.get(f"{EXTENSIONS}/reports", include_in_schema=False)
    def reports(request: Request) -> JSONResponse:
        return JSONResponse({"reports": report_runs(request.app.state.reports_dir)})

    return router


class _FolderFiles(StaticFiles):
    """Static files of a folder that may not exist yet (404 until it does)."""

    async def check_config(self) -> None:
        if self.directory is None or not Path(self.directory).is_dir():
            raise HTTPException(status_code=404, detail="no reports yet")
        await super().check_config()


def static_files(reports_dir: Path) -> list[tuple[str, StaticFiles, str]]:
    """Return the read-only file mounts: the page's assets and the reports."""
    return [
        (f"{EXTENSIONS}/static", StaticFiles(directory=STATIC_DIR), "static"),
        (
            f"{EXTENSIONS}/reports",
            _FolderFiles(directory=reports_dir, html=True, check_dir=False),
            "reports",
        ),
    ]
