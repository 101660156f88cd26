"""Ingest from each source in one call: the offline snapshot, files, the MP API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from matforge.data.files import read_paths
from matforge.data.ingest import IngestEnergies, IngestSummary, ingest_records
from matforge.data.mp import mp_records
from matforge.data.offline import offline_files, offline_records
from matforge.errors import MatforgeError

if TYPE_CHECKING:
    from matforge.stores.factory import StoreFactory

Progress = Callable[[int], None] | None


def ingest_offline(
    factory: StoreFactory, mp20: bool = False, progress: Progress = None
) -> IngestSummary:
    """Ingest the offline snapshot (``hydrides_seed.json.gz``; MP-20 with ``mp20``)."""
    shared = factory.settings.shared_data_dir()
    inputs = [str(p) for p in offline_files(shared, mp20)]
    return ingest_records(
        offline_records(shared, mp20), factory, "offline", inputs, progress=progress
    )


def ingest_paths(
    factory: StoreFactory,
    paths: Sequence[str],
    progress: Progress = None,
    energies: IngestEnergies | None = None,
) -> IngestSummary:
    """Ingest structure files and folders (see :func:`read_paths`).

    With ``energies``, entries that come without a formation energy get one
    (and so a score) from the potential it names.
    """
    return ingest_records(
        read_paths(paths),
        factory,
        "files",
        list(paths),
        progress=progress,
        energies=energies,
    )


def ingest_materials_project(
    factory: StoreFactory, progress: Progress = None
) -> IngestSummary:
    """Ingest every Materials Project material with H and a metal.

    Raises
    ------
    MatforgeError
        If no API key is set.
    """
    settings = factory.settings
    if settings.mp_api_key is None:
        raise MatforgeError(
            "no Materials Project API key: set MP_API_KEY or MATFORGE_MP_API_KEY"
        )
    records = mp_records(
        settings.mp_api_key.get_secret_value(), page_size=settings.ingest.mp_page_size
    )
    return ingest_records(
        records, factory, "mp", ["mp-api:materials/summary"], progress=progress
    )
