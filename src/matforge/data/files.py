"""Read structures from files: CIF, JSON / JSON.gz, and CSV in the MP-20 format.

Every problem (a missing or empty file, binary content, broken JSON, an
unparsable CIF) comes back as a :class:`RawRecord` with a reason; nothing here
raises on bad input, and one bad record never hides the good ones beside it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from matforge.data.records import (
    SNIPPET,
    RawRecord,
    record_from_dict,
    structures_from_cif,
)

SUFFIXES = {".cif": "cif", ".mcif": "cif", ".json": "json", ".csv": "csv"}
MP20_REQUIRED = ("cif",)


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path | RawRecord]:
    """Expand folders (recursively, sorted); report paths that do not exist."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            yield path
        else:
            yield RawRecord.failed(str(path), "no such file or folder")


def _text_of(path: Path, data: bytes) -> tuple[str | None, str | None]:
    """Return (text, None) or (None, reason) for the bytes of a file."""
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            return None, f"not a valid gzip file ({exc})"
    if not data.strip():
        return None, "the file is empty" if not data else "the file holds only blanks"
    if b"\x00" in data[:8192]:
        return None, "binary file: not a CIF, JSON or CSV text file"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    # Older CIFs (ICSD exports, ...) are Latin-1 text: read them unless the
    # bytes hold many control characters, the mark of a binary file.
    text = data.decode("latin-1")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    controls += sum(1 for c in text if 0x7F <= ord(c) < 0xA0)
    if controls > 0.01 * len(text):
        return None, "binary file: not a CIF, JSON or CSV text file"
    return text, None


def _kind_of(path: Path, text: str) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in SUFFIXES:
        return SUFFIXES[suffixes[-1]]
    head = text.lstrip()[:1]
    if head in "{[" and head:
        return "json"
    if "data_" in text and "_cell_length_a" in text:
        return "cif"
    return None


def read_cif(text: str, label: str) -> Iterator[RawRecord]:
    """Yield one record per data block of a CIF."""
    structures, problems = structures_from_cif(text)
    for reason in problems:
        yield RawRecord.failed(label, reason, text)
    if not structures and not problems:
        yield RawRecord.failed(label, "the CIF holds no structure", text)
    for i, structure in enumerate(structures):
        name = label if len(structures) == 1 else f"{label}#{i}"
        yield RawRecord(input=name, structure=structure)


def read_json(text: str, label: str) -> Iterator[RawRecord]:
    """Yield the records of a JSON document (one object, a list or a mapping)."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        yield RawRecord.failed(
            label,
            f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            text,
        )
        return
    if isinstance(payload, list):
        if not payload:
            yield RawRecord.failed(label, "the JSON list is empty", text)
        for i, item in enumerate(payload):
            yield record_from_dict(item, f"{label}[{i}]")
    elif isinstance(payload, dict) and ("@class" in payload or "structure" in payload):
        yield record_from_dict(payload, label)
    elif (
        isinstance(payload, dict)
        and payload
        and all(isinstance(v, dict) for v in payload.values())
    ):
        for name, item in payload.items():
            yield record_from_dict(item, f"{label}[{name}]")
    else:
        yield RawRecord.failed(
            label,
            "JSON holds no structure: expected a Structure, a ComputedStructureEntry, "
            "a record with 'structure', or a list of those",
            text,
        )


def read_mp20_csv(text: str, label: str) -> Iterator[RawRecord]:
    """Yield the rows of a CSV in the MP-20 format (one CIF per row)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in MP20_REQUIRED if c not in columns]
    if missing:
        yield RawRecord.failed(
            label,
            f"CSV lacks the column(s) {', '.join(missing)} of the MP-20 format "
            "(material_id, formation_energy_per_atom, band_gap, pretty_formula, "
            "e_above_hull, elements, cif, spacegroup.number)",
            text,
        )
        return
    rows = enumerate(reader, start=1)
    while True:
        try:
            number, raw_row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRecord.failed(
                f"{label}:line {reader.line_num}", f"malformed CSV: {exc}", text
            )
            return
        yield _mp20_row(raw_row, f"{label}:row {number}")


def _mp20_row(raw_row: dict[str | None, Any], name: str) -> RawRecord:
    """Read one row of an MP-20 CSV."""
    row = {(k or "").strip(): v for k, v in raw_row.items() if k is not None}
    if row.get("material_id"):
        name += f" ({row['material_id']})"
    cif = row.get("cif") or ""
    if not cif.strip():
        return RawRecord.failed(name, "the row's cif field is empty", str(row))
    structures, problems = structures_from_cif(cif)
    if problems or len(structures) != 1:
        if problems:
            reason = problems[0]
        elif structures:
            reason = f"the row's CIF holds {len(structures)} structures, not one"
        else:
            reason = "the row's CIF holds no structure"
        return RawRecord.failed(name, reason, cif)
    return RawRecord(
        input=name,
        structure=structures[0],
        material_id=row.get("material_id") or None,
        provenance="materials-project (MP-20 format)",
        formation_energy_per_atom=_blank_to_none(row.get("formation_energy_per_atom")),
        energy_source="MP-20 (Materials Project GGA/GGA+U)",
        e_above_hull=_blank_to_none(row.get("e_above_hull")),
        band_gap=_blank_to_none(row.get("band_gap")),
    )


def _blank_to_none(value: str | None) -> str | None:
    return value if value not in (None, "") else None


READERS = {"cif": read_cif, "json": read_json, "csv": read_mp20_csv}


def read_file(path: Path) -> Iterator[RawRecord]:
    """Yield the records of one file, or one record saying why it is unreadable."""
    label = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield RawRecord.failed(label, f"cannot read the file: {exc.strerror}")
        return
    text, reason = _text_of(path, data)
    if text is None:
        yield RawRecord.failed(label, reason or "unreadable", data[:SNIPPET].hex())
        return
    kind = _kind_of(path, text)
    if kind is None:
        yield RawRecord.failed(
            label,
            "unrecognised file type: expected .cif, .json, .json.gz or .csv",
            text,
        )
        return
    yield from READERS[kind](text, label)


def read_paths(paths: Iterable[str | Path]) -> Iterator[RawRecord]:
    """Yield the records of files and folders, in a stable order."""
    for item in iter_files(paths):
        if isinstance(item, RawRecord):
            yield item
        else:
            yield from read_file(item)
