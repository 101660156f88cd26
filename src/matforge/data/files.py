"""Read structures from files: every format pymatgen or ASE reads, and MP-20 CSV.

:mod:`matforge.data.formats` chooses the reader of a file by its name, then by
its content; CIF, JSON / JSON.gz and CSV in the MP-20 format are read here,
POSCAR-like files and the formats of pymatgen and ASE in
:mod:`matforge.data.readers`. Everything is a generator: records come file by
file, JSON list item by item, CIF data block by block and trajectory frame by
frame, so memory stays bounded however many structures the inputs hold.

Every problem (a missing or empty file, binary content, broken JSON, an
unparsable CIF, a molecule without a cell) comes back as a :class:`RawRecord`
with a reason; nothing here raises on bad input, and one bad record never hides
the good ones beside it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from matforge.data.formats import (
    HEAD_BYTES,
    REFUSED_ASE_FORMATS,
    FileFormat,
    detect_format,
    names_isotopes,
)
from matforge.data.readers import read_poscar, read_with_ase, read_with_pymatgen
from matforge.data.records import (
    SNIPPET,
    RawRecord,
    record_from_dict,
    structures_from_cif,
)
from matforge.data.textio import DECOMPRESS_ERRORS as _DECOMPRESS_ERRORS
from matforge.data.textio import compression as _compression
from matforge.data.textio import compression_problem as _compression_problem
from matforge.data.textio import open_binary as _open
from matforge.data.textio import open_text

MP20_REQUIRED = ("cif",)
KNOWN_FORMATS = (
    "CIF, JSON, MP-20 CSV, POSCAR / CONTCAR / *.vasp, vasprun.xml, OUTCAR, "
    "XDATCAR, extended XYZ, Quantum ESPRESSO, CASTEP, FHI-aims, XSF, SHELX res, "
    "CSSR, ASE trajectories and the other formats of pymatgen and ASE"
)


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


def _head(path: Path) -> tuple[bytes | None, str | None]:
    """Return the first bytes of a file (decompressed), or the reason not."""
    try:
        with _open(path) as handle:
            return handle.read(HEAD_BYTES), None
    except _DECOMPRESS_ERRORS as exc:
        if _compression(path) is None:
            return None, f"cannot read the file: {getattr(exc, 'strerror', exc)}"
        return None, _compression_problem(path, exc)


_BLOCK_START = re.compile(r"^data_", re.IGNORECASE)


def cif_blocks(text: str) -> list[str]:
    """Split a CIF into its data blocks (text fields between ``;`` lines kept whole).

    Text before the first block (comments) goes with the first block.
    """
    blocks: list[list[str]] = [[]]
    in_text_field = False
    started = False
    for line in text.splitlines(keepends=True):
        if line.startswith(";"):
            in_text_field = not in_text_field
        elif not in_text_field and _BLOCK_START.match(line):
            if started:
                blocks.append([])
            started = True
        blocks[-1].append(line)
    return ["".join(b) for b in blocks if b]


def read_cif(text: str, label: str, file: str | None = None) -> Iterator[RawRecord]:
    """Yield one record per data block of a CIF, block by block.

    In a CIF of several blocks, the records are named ``file#i`` by the index
    of their block (from 0) and reasons name the block.
    """
    blocks = [(b, _block_name(b)) for b in cif_blocks(text)]
    blocks = [(b, name) for b, name in blocks if name is not None]
    if len(blocks) <= 1:
        yield from _read_cif_block(text, label, file, None)
        return
    for index, (block, name) in enumerate(blocks):
        yield from _read_cif_block(block, f"{label}#{index}", file, name)


def _block_name(block: str) -> str | None:
    """Return the name of a CIF data block (None for text without one)."""
    for line in block.splitlines():
        if _BLOCK_START.match(line):
            return line[5:].strip()
    return None


def _read_cif_block(
    text: str, label: str, file: str | None, block: str | None
) -> Iterator[RawRecord]:
    structures, problems = structures_from_cif(text)
    where = f"data block {block}: " if block is not None else ""
    for reason in problems:
        yield RawRecord.failed(label, where + reason, text, file)
    if not structures and not problems:
        yield RawRecord.failed(label, where + "the CIF holds no structure", text, file)
    for i, structure in enumerate(structures):
        name = label if len(structures) == 1 else f"{label}#{i}"
        yield RawRecord(input=name, structure=structure, file=file)


def read_json(text: str, label: str, file: str | None = None) -> Iterator[RawRecord]:
    """Yield the records of a JSON document (one object, a list or a mapping).

    A list is decoded item by item: the items before a break in the file are
    kept, and the break becomes one record with its reason.
    """
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] == "[":
        yield from _read_json_list(io.StringIO(text), label, file)
        return
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        yield _broken_json(exc, label, text, file)
        return
    if isinstance(payload, dict) and ("@class" in payload or "structure" in payload):
        yield _with_file(record_from_dict(payload, label), file)
    elif (
        isinstance(payload, dict)
        and payload
        and all(isinstance(v, dict) for v in payload.values())
    ):
        for name, item in payload.items():
            yield _with_file(record_from_dict(item, f"{label}[{name}]"), file)
    else:
        yield RawRecord.failed(
            label,
            "JSON holds no structure: expected a Structure, a ComputedStructureEntry, "
            "a record with 'structure', or a list of those",
            text,
            file,
        )


def read_json_file(path: Path, label: str) -> Iterator[RawRecord]:
    """Yield the records of a JSON file; a list streams from disk item by item.

    Only the items being decoded are in memory (a window of ``JSON_CHUNK``
    characters and up): a JSON list of any length reads in bounded memory.
    """
    try:
        with _open(path) as raw:
            handle = io.TextIOWrapper(raw, encoding="utf-8-sig")
            head = handle.read(JSON_CHUNK)
            if head.lstrip()[:1] == "[":
                yield from _read_json_list(handle, label, label, head)
                return
            text = head + handle.read()
    except UnicodeDecodeError as exc:
        yield RawRecord.failed(
            label, f"not UTF-8 text, as JSON must be: {exc}", "", label
        )
        return
    except _DECOMPRESS_ERRORS as exc:
        reason = (
            _compression_problem(path, exc)
            if _compression(path)
            else f"cannot read the file: {exc}"
        )
        yield RawRecord.failed(label, reason, "", label)
        return
    yield from read_json(text, label, label)


JSON_CHUNK = 1 << 20  # characters read at a time from a JSON list
JSON_MAX_ITEM = 64 << 20  # an item longer than this is broken, not unfinished
_DECODER = json.JSONDecoder()
_BLANK = re.compile(r"\s*")


class _JsonWindow:
    """A sliding window over a JSON text stream, with line numbers of the whole."""

    def __init__(self, handle: IO[str], text: str) -> None:
        self.handle = handle
        self.text = text
        self.pos = 0
        self.lines_before = 0  # newlines in the text already dropped
        self.eof = False

    def more(self) -> bool:
        """Read another chunk (dropping whole lines already decoded)."""
        if self.eof:
            return False
        cut = self.text.rfind("\n", 0, self.pos) + 1
        if cut:
            self.lines_before += self.text.count("\n", 0, cut)
            self.text = self.text[cut:]
            self.pos -= cut
        chunk = self.handle.read(JSON_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.text += chunk
        return True

    def skip_blanks(self) -> str:
        """Move past white space; return the next character ('' at the end)."""
        while True:
            self.pos = _BLANK.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def where(self, pos: int) -> tuple[int, int]:
        """Return the (line, column) of a position, counted in the whole text."""
        line = self.lines_before + self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column


def _read_json_list(
    handle: IO[str], label: str, file: str | None, head: str | None = None
) -> Iterator[RawRecord]:
    """Decode the items of a JSON list one at a time from a text stream."""
    window = _JsonWindow(handle, head if head is not None else handle.read(JSON_CHUNK))
    window.skip_blanks()
    window.pos += 1  # the "["
    index = 0
    if window.skip_blanks() == "]":
        window.pos += 1
        if window.skip_blanks():
            yield RawRecord.failed(label, "broken JSON: text after the list", "", file)
        else:
            yield RawRecord.failed(label, "the JSON list is empty", "", file)
        return
    while True:
        name = label if index == 0 else f"{label}[{index}]"
        try:
            item, end = _DECODER.raw_decode(window.text, window.pos)
        except json.JSONDecodeError as exc:
            line, column = window.where(exc.pos)  # before more() moves the window
            snippet = window.text[window.pos : window.pos + SNIPPET]
            unfinished = len(window.text) - window.pos < JSON_MAX_ITEM
            if unfinished and window.more():
                continue  # the item goes on in the next chunk
            yield RawRecord.failed(
                name,
                f"broken JSON at line {line}, column {column}: {exc.msg}",
                snippet,
                file,
            )
            return
        yield _with_file(record_from_dict(item, f"{label}[{index}]"), file)
        index += 1
        window.pos = end
        following = window.skip_blanks()
        if following == ",":
            window.pos += 1
            window.skip_blanks()
            continue
        if following == "]":
            window.pos += 1
            if not window.skip_blanks():
                return
        line, column = window.where(window.pos)
        yield RawRecord.failed(
            f"{label}[{index}]",
            f"broken JSON at line {line}, column {column}: expected ',' or ']' "
            "after a list item (is the file cut short?)",
            window.text[window.pos : window.pos + SNIPPET],
            file,
        )
        return


def _broken_json(
    exc: json.JSONDecodeError, label: str, text: str, file: str | None
) -> RawRecord:
    return RawRecord.failed(
        label,
        f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
        text[max(0, exc.pos - SNIPPET // 2) : exc.pos + SNIPPET // 2]
        if exc.pos > SNIPPET
        else text,
        file,
    )


def _with_file(record: RawRecord, file: str | None) -> RawRecord:
    record.file = file
    return record


def read_mp20_csv(
    text: str, label: str, file: str | None = None
) -> Iterator[RawRecord]:
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
            file,
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
                f"{label}:line {reader.line_num}", f"malformed CSV: {exc}", text, file
            )
            return
        yield _with_file(_mp20_row(raw_row, f"{label}:row {number}"), file)


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


TEXT_READERS = {"cif": read_cif, "json": read_json, "csv": read_mp20_csv}


def read_file(path: Path) -> Iterator[RawRecord]:
    """Yield the records of one file, or one record saying why it is unreadable."""
    label = str(path)
    head, reason = _head(path)
    if head is None:
        yield RawRecord.failed(label, reason or "unreadable", file=label)
        return
    if not head.strip():
        yield RawRecord.failed(
            label,
            "the file is empty" if not head else "the file holds only blanks",
            file=label,
        )
        return
    fmt = detect_format(path, head)
    if fmt is not None and fmt.reader == "ase" and fmt.name in REFUSED_ASE_FORMATS:
        yield RawRecord.failed(
            label,
            f"{fmt.name} file not read: {REFUSED_ASE_FORMATS[fmt.name]}",
            head[:SNIPPET].decode("utf-8", errors="replace"),
            label,
        )
        return
    if fmt is not None and fmt.streams:
        isotopes = names_isotopes(head.decode("utf-8", errors="replace"))
        yield from read_with_ase(
            path, label, fmt.name, fmt.final_frame_only, isotopes=isotopes
        )
        return
    if fmt is not None and fmt.reader == "json" and b"\x00" not in head[:8192]:
        yield from read_json_file(path, label)
        return
    text, reason = open_text(path)
    if text is None:
        yield RawRecord.failed(
            label, reason or "unreadable", head[:SNIPPET].hex(), label
        )
        return
    if fmt is None:
        yield RawRecord.failed(
            label,
            f"unrecognised file type: matforge reads {KNOWN_FORMATS}",
            text,
            label,
        )
        return
    yield from _read_text(fmt, text, label, path)


def _read_text(
    fmt: FileFormat, text: str, label: str, path: Path
) -> Iterator[RawRecord]:
    if fmt.reader in TEXT_READERS:
        yield from TEXT_READERS[fmt.reader](text, label, label)
    elif fmt.reader in {"poscar", "poscar-head"}:
        yield from read_poscar(text, label, path, head_only=fmt.reader != "poscar")
    else:
        yield from read_with_pymatgen(path, label, fmt.name)


def read_paths(paths: Iterable[str | Path]) -> Iterator[RawRecord]:
    """Yield the records of files and folders, in a stable order."""
    for item in iter_files(paths):
        if isinstance(item, RawRecord):
            yield item
        else:
            yield from read_file(item)
