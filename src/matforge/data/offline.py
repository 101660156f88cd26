"""The offline snapshot in the shared data folder."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from pymatgen.core import Structure

from matforge.core.formation import ElementalReference
from matforge.data.files import read_file
from matforge.data.records import RawRecord
from matforge.errors import DataNotFoundError

SEED_FILE = "hydrides_seed.json.gz"
REFERENCES_FILE = "mp_elemental_references.json.gz"
"""The elements' Materials Project reference structures and energies."""
MP20_FILES = ("mp20_sample/train.csv", "mp20_sample/val.csv", "mp20_sample/test.csv")


def offline_files(shared_dir: Path, include_mp20: bool = False) -> list[Path]:
    """Return the snapshot files to ingest, checking that they exist."""
    names = [SEED_FILE, *(MP20_FILES if include_mp20 else ())]
    paths = [shared_dir / name for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"offline data missing: {', '.join(missing)}")
    return paths


def offline_records(
    shared_dir: Path, include_mp20: bool = False
) -> Iterator[RawRecord]:
    """Yield the records of the offline snapshot.

    Parameters
    ----------
    shared_dir
        The shared data folder.
    include_mp20
        Also read the MP-20 sample (all chemistries; the filters keep the metal
        hydrides).
    """
    for path in offline_files(shared_dir, include_mp20):
        for record in read_file(path):
            record.input = (
                f"{path.relative_to(shared_dir)}{record.input[len(str(path)) :]}"
            )
            yield record


def read_elemental_references(path: str | Path) -> dict[str, ElementalReference]:
    """Read the MP elemental references (``mp_elemental_references.json.gz``).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        Element symbol to its reference.
    """
    with gzip.open(Path(path), "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    refs = {}
    for symbol, item in raw.items():
        entry = item.get("mp_entry") or {}
        mp_id = (entry.get("data") or {}).get("material_id") or entry.get("entry_id")
        refs[symbol] = ElementalReference(
            element=symbol,
            structure=Structure.from_dict(item["structure"]),
            mp_energy_per_atom=float(item["energy_per_atom"]),
            mp_id=mp_id,
        )
    return refs
