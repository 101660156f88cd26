"""Readers for the files of simulation codes: VASP POSCAR, pymatgen's and ASE's formats.

Like the CIF and JSON readers in :mod:`matforge.data.files`, none of them
raises on bad content: each yields :class:`RawRecord` objects, with a reason
for a person where a structure cannot be read. ASE files are read frame by
frame (a generator), so a long trajectory never sits in memory whole.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from matforge.data.formats import isotope_lines
from matforge.data.records import RawRecord, _short

# Fields of an extended-XYZ frame's info that a record takes over.
INFO_FIELDS = ("material_id", "formation_energy_per_atom", "e_above_hull", "band_gap")
POSCAR_SITE_PROPERTIES = ("velocities", "selective_dynamics", "predictor_corrector")


def _element_names(tokens: list[str]) -> bool:
    try:
        return all(Element(t).Z > 0 for t in tokens)
    except (ValueError, KeyError):
        return False


def _names_from_comment(comment: str, count: int) -> list[str] | None:
    """Element names from a POSCAR's first line: ``Na Al H`` or ``NaAlH4``."""
    tokens = comment.split()
    if len(tokens) >= count and _element_names(tokens[:count]):
        return tokens[:count]
    if tokens:
        pieces = re.findall(r"([A-Z][a-z]?)(\d*\.?\d*)", tokens[0])
        names = [p[0] for p in pieces]
        if (
            "".join(a + b for a, b in pieces) == tokens[0]
            and len(names) == count
            and len(set(names)) == count
            and _element_names(names)
        ):
            return names
    return None


def _names_from_potcar(folder: Path, count: int) -> list[str] | None:
    """Element names from the TITEL lines of a POTCAR in the same folder."""
    potcar = folder / "POTCAR"
    if not potcar.is_file():
        return None
    try:
        text = potcar.read_text(errors="replace")
    except OSError:
        return None
    names = [
        m.group(1).split("_")[0] for m in re.finditer(r"TITEL\s*=\s*\S+\s+(\S+)", text)
    ]
    return names if len(names) == count and _element_names(names) else None


def _vasp4_names(lines: list[str], path: Path | None) -> tuple[list[str] | None, str]:
    """Element names of a VASP 4 POSCAR (no species line), and where they came from."""
    counts = lines[5].split()
    position_start = 7
    if lines[6].strip()[:1].lower() == "s":  # selective dynamics
        position_start = 8
    first_position = lines[position_start].split() if len(lines) > 8 else []
    if len(first_position) > 3 and _element_names([first_position[3]]):
        return None, "coordinates"  # pymatgen reads symbols after coordinates
    names = _names_from_comment(lines[0], len(counts))
    if names is not None:
        return names, "its first line"
    if path is not None:
        names = _names_from_potcar(path.parent, len(counts))
        if names is not None:
            return names, "the POTCAR beside it"
    return [], ""


def read_poscar(
    text: str, label: str, path: Path | None = None, head_only: bool = False
) -> Iterator[RawRecord]:
    """Yield the structure of a POSCAR / CONTCAR / ``*.vasp`` file.

    The elements come from the species line (VASP 5 and 6), or, in the VASP 4
    format, from symbols after the coordinates, the first line (``Na Al H`` or
    ``NaAlH4``) or a POTCAR in the same folder. Velocities and selective
    dynamics flags are not kept. ``head_only`` reads the structure block of a
    CHGCAR-like file (the first block, before the grid).
    """
    from pymatgen.io.vasp import Poscar

    file = str(path) if path is not None else None
    lines = text.splitlines()
    notes: list[str] = []
    names: list[str] | None = None
    if head_only:
        text = re.split(r"\n\s*\n", text.strip("\n"), maxsplit=1)[0] + "\n"
        lines = text.splitlines()
    if len(lines) > 6 and re.match(r"^\s*\d+(\s+\d+)*\s*$", lines[5]):
        names, where = _vasp4_names(lines, path)
        if names == []:
            yield RawRecord.failed(
                label,
                "POSCAR in the VASP 4 format without element names: no species "
                "line, no element symbols in its first line or after the "
                "coordinates, and no POTCAR beside it (add the species line of "
                "the VASP 5 format)",
                text,
                file,
            )
            return
        if names:
            notes.append(f"element names taken from {where}: {' '.join(names)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                poscar = Poscar.from_str(text, default_names=names)
            except Exception:  # a velocity block pymatgen cannot read
                poscar = Poscar.from_str(
                    text, default_names=names, read_velocities=False
                )
                notes.append("the block after the positions could not be read")
    except Exception as exc:
        yield RawRecord.failed(label, f"unreadable POSCAR: {_short(exc)}", text, file)
        return
    structure = poscar.structure
    dropped = [p for p in POSCAR_SITE_PROPERTIES if p in structure.site_properties]
    if dropped:
        velocities = "velocities" in dropped
        for name in dropped:
            structure.remove_site_property(name)
        what = ", ".join(p.replace("_", " ") for p in dropped)
        notes.append(
            f"{what} in the file not kept"
            + (" (a structure, not a trajectory, is stored)" if velocities else "")
        )
    yield RawRecord(input=label, structure=structure, file=file, notes=notes)


def read_with_pymatgen(path: Path, label: str, fmt: str) -> Iterator[RawRecord]:
    """Yield the structure of a file in one of pymatgen's registry formats.

    The format was chosen from the file name by pymatgen's own patterns, so
    ``Structure.from_file`` reads it (compressed files included).
    """
    file = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(path)
    except Exception as exc:
        yield RawRecord.failed(label, f"unreadable {fmt} file: {_short(exc)}", "", file)
        return
    yield RawRecord(input=label, structure=structure, file=file)


def _number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def record_from_atoms(atoms: Any, label: str, file: str | None) -> RawRecord:
    """Turn one ASE ``Atoms`` frame into a record, or say why it is no crystal."""
    pbc = [bool(x) for x in atoms.pbc]
    cell = np.asarray(atoms.cell[:], dtype=float)
    rank = int(atoms.cell.rank)
    snippet = f"{atoms.get_chemical_formula()} cell={cell.round(3).tolist()}"
    if len(atoms) == 0:
        return RawRecord.failed(label, "the frame holds no atoms", snippet, file)
    if not any(pbc) and rank < 3:
        return RawRecord.failed(
            label,
            "no cell: the file holds a molecule or cluster without lattice vectors "
            "(e.g. a plain XYZ file); only periodic crystals are stored (extended "
            'XYZ: give Lattice="..." in the comment line)',
            snippet,
            file,
        )
    if any(pbc) and not all(pbc):
        return RawRecord.failed(
            label,
            f"periodic along {sum(pbc)} of 3 directions only (a slab or wire, "
            "pbc = " + " ".join("T" if p else "F" for p in pbc) + "): only bulk "
            "crystals are stored",
            snippet,
            file,
        )
    if rank < 3 or abs(float(np.linalg.det(cell))) < 1e-3:
        return RawRecord.failed(
            label,
            "zero-volume cell: the lattice vectors give no 3-D lattice",
            snippet,
            file,
        )
    try:
        structure = Structure(
            Lattice(cell),
            atoms.get_chemical_symbols(),
            atoms.get_positions(),
            coords_are_cartesian=True,
        )
    except Exception as exc:
        return RawRecord.failed(
            label, f"invalid structure data: {_short(exc)}", snippet, file
        )
    info = {k: _number(atoms.info[k]) for k in INFO_FIELDS if k in atoms.info}
    material_id = info.get("material_id")
    return RawRecord(
        input=label,
        structure=structure,
        material_id=str(material_id) if material_id not in (None, "") else None,
        formation_energy_per_atom=info.get("formation_energy_per_atom"),
        energy_source="the file's frame info"
        if "formation_energy_per_atom" in info
        else None,
        e_above_hull=info.get("e_above_hull"),
        band_gap=info.get("band_gap"),
        file=file,
    )


def _ase_problem(exc: BaseException, fmt: str) -> str:
    message = _short(exc)
    if isinstance(exc, EOFError) or "end-of-stream" in message:
        return f"not a valid compressed file ({message})"
    if isinstance(exc, KeyError):
        return f"unreadable {fmt} file: unknown element or field {message}"
    return f"unreadable {fmt} file: {message}"


def read_with_ase(
    path: Path,
    label: str,
    fmt: str,
    final_only: bool = False,
    isotopes: bool = False,
) -> Iterator[RawRecord]:
    """Yield one record per frame of a file that ASE reads.

    A calculation's output (vasprun.xml, OUTCAR, ...) gives its last frame
    only. Frames are read one at a time. A file with several frames gives records
    named ``file[frame i]`` (from 0); a file with one frame, the file name.

    Parameters
    ----------
    path
        The file (ASE opens compressed files itself).
    label
        Its name in records.
    fmt
        The ASE format.
    final_only
        Read only the last frame.
    isotopes
        The file names D or T (which ASE does not know): read it as text with
        H in their place, and say so on each record.
    """
    file = str(path)
    notes: list[str] = []
    source: Any = file
    if isotopes:
        from matforge.data.textio import open_text

        text, reason = open_text(path)
        if text is None:
            yield RawRecord.failed(label, reason or "unreadable", "", file)
            return
        text, counts = isotope_lines(text)
        source = io.StringIO(text)
        notes = [_isotope_note(symbol, n) for symbol, n in sorted(counts.items())]
    frames = _frames(source, fmt, final_only)
    current, error = _pull(frames)
    if error is not None:
        yield RawRecord.failed(label, _ase_problem(error, fmt), "", file)
        return
    if current is _END:
        yield RawRecord.failed(label, f"the {fmt} file holds no frame", "", file)
        return
    index = 0
    while True:
        following, error = _pull(frames)
        several = index > 0 or following is not _END or error is not None
        record = record_from_atoms(
            current, f"{label}[frame {index}]" if several else label, file
        )
        record.notes.extend(notes)
        yield record
        if error is not None:
            where = f"{label}[frame {index + 1}]"
            yield RawRecord.failed(where, _ase_problem(error, fmt), "", file)
            return
        if following is _END:
            return
        current = following
        index += 1


_END = object()


def _frames(source: Any, fmt: str, final_only: bool) -> Iterator[Any]:
    """Yield the frames ASE reads (lazily: a frame is read when asked for)."""
    import ase.io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if final_only:
            yield ase.io.read(source, index=-1, format=fmt)
        else:
            yield from ase.io.iread(source, index=":", format=fmt)


def _pull(frames: Iterator[Any]) -> tuple[Any, BaseException | None]:
    """Return the next frame (``_END`` after the last), or the error reading it."""
    try:
        return next(frames, _END), None
    except Exception as exc:
        return None, exc


def _isotope_note(symbol: str, lines: int) -> str:
    name = {"D": "deuterium", "T": "tritium"}[symbol]
    return f"{name} ({symbol}) read as hydrogen ({lines} line(s) of the file)"
