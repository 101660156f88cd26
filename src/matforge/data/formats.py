"""Which reader a structure file needs: chosen by its name, then by its content.

Every format that pymatgen's ``Structure.from_file`` or ASE's ``ase.io.read``
reads is routed here to one of four kinds of reader:

- matforge's own: CIF, JSON (structures, entries, records), MP-20 CSV and
  POSCAR / CONTCAR / ``*.vasp`` (with or without the species line, with
  velocities), whose problems get the most precise reasons;
- ``pymatgen:<format>``: pymatgen's registry (CSSR, ATAT mcsqs, LMTO CTRL,
  PWmat, exciting, YAML dicts, ...);
- ``ase:<format>``: ASE (extended and plain XYZ, vasprun.xml, OUTCAR, XDATCAR,
  Quantum ESPRESSO input and output, CASTEP, FHI-aims, XSF, SHELX res, ASE
  trajectories, ...), read frame by frame.

A file's suffix decides first, then well-known names (``CONTCAR`` without an
extension, ``vasprun.xml``), then its first bytes, then ASE's own guess.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 65536
COMPRESSIONS = (".gz", ".bz2", ".xz")

# The ASE formats that read the outcome of one calculation: their last frame is
# the structure (the steps of one relaxation are not distinct materials).
FINAL_FRAME_ONLY = frozenset(
    {
        "vasp-xml",
        "vasp-out",
        "espresso-out",
        "castep-castep",
        "castep-geom",
        "aims-output",
        "gpaw-out",
        "gpaw-log",
        "abinit-out",
        "nwchem-out",
        "onetep-out",
        "qbox",
        "gaussian-out",
        "orca-output",
        "dacapo-text",
        "gamess-us-out",
        "turbomole-gradient",
        "acemolecule-out",
    }
)

# ASE formats matforge does not read, and why.
REFUSED_ASE_FORMATS = {
    "lammps-data": "a LAMMPS data file names atom types, not elements",
    "lammps-dump-text": "a LAMMPS dump names atom types, not elements",
    "lammps-dump-binary": "a LAMMPS dump names atom types, not elements",
    "mysql": "a database server, not a file",
    "postgresql": "a database server, not a file",
    "db": "an ASE database: export its rows (ase db ... --extract) first",
    "bundletrajectory": "an ASE bundle trajectory is a folder, not a file",
    "json": "an ASE JSON database: export its rows first",
}

_BY_SUFFIX = {
    ".cif": "cif",
    ".mcif": "cif",
    ".json": "json",
    ".csv": "csv",
    ".vasp": "poscar",
    ".poscar": "poscar",
    ".xyz": "ase:extxyz",
    ".extxyz": "ase:extxyz",
    ".traj": "ase:traj",
    ".cell": "ase:castep-cell",
    ".castep": "ase:castep-castep",
    ".geom": "ase:castep-geom",
    ".pwi": "ase:espresso-in",
    ".pwo": "ase:espresso-out",
    ".gen": "ase:gen",
    ".res": "ase:res",
    ".xsf": "ase:xsf",
    ".cssr": "pymatgen:cssr",
    ".pdb": "ase:proteindatabank",
    ".cfg": "ase:cfg",
    ".cube": "ase:cube",
    ".gro": "ase:gromacs",
    ".car": "ase:dmol-car",
    ".arc": "ase:dmol-arc",
    ".con": "ase:eon",
    ".struct": "ase:struct",
    ".lammps": "ase:lammps-data",
    ".lmp": "ase:lammps-data",
}

# Names (case-insensitive, compression suffix removed) of VASP and other codes'
# files that carry no telling suffix.
_BY_NAME = (
    ("*vasprun*.xml", "ase:vasp-xml"),
    ("poscar*", "poscar"),
    ("contcar*", "poscar"),
    ("xdatcar*", "ase:vasp-xdatcar"),
    ("outcar*", "ase:vasp-out"),
    ("chgcar*", "poscar-head"),
    ("locpot*", "poscar-head"),
    ("elfcar*", "poscar-head"),
    ("aeccar*", "poscar-head"),
    ("parchg*", "poscar-head"),
    ("chg", "poscar-head"),
    ("geometry.in*", "ase:aims"),
)

_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?"
_THREE_FLOATS = re.compile(rf"^\s*{_FLOAT}\s+{_FLOAT}\s+{_FLOAT}\s*$")
_ONE_FLOAT = re.compile(rf"^\s*{_FLOAT}(\s+{_FLOAT}\s+{_FLOAT})?\s*$")
_INTEGERS = re.compile(r"^\s*\d+(\s+\d+)*\s*$")
_SYMBOLS = re.compile(r"^\s*[A-Za-z][A-Za-z0-9_/.]*(\s+[A-Za-z][A-Za-z0-9_/.]*)*\s*$")
_ISOTOPE_LINE = re.compile(rf"(?m)^(\s*)([DT])(?=\s+(?:{_FLOAT}|[A-Za-z]))")


@dataclass(frozen=True)
class FileFormat:
    """The reader a file needs.

    Attributes
    ----------
    reader
        ``cif``, ``json``, ``csv``, ``poscar``, ``poscar-head`` (the structure
        block of a CHGCAR-like file), ``pymatgen`` or ``ase``.
    name
        The pymatgen or ASE format name (the reader for the others).
    how
        How it was chosen, for messages: ``suffix``, ``name``, ``content`` or
        ``ase guess``.
    """

    reader: str
    name: str
    how: str

    @property
    def streams(self) -> bool:
        """Whether the reader reads the file itself, frame by frame."""
        return self.reader == "ase"

    @property
    def final_frame_only(self) -> bool:
        """Whether only the last frame (a calculation's result) is a record."""
        return self.reader == "ase" and self.name in FINAL_FRAME_ONLY


def _format(spec: str, how: str) -> FileFormat:
    reader, _, name = spec.partition(":")
    return FileFormat(reader, name or reader, how)


def plain_name(path: Path) -> str:
    """Return the file name without a compression suffix, lower case."""
    name = path.name.lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_by_name(path: Path) -> FileFormat | None:
    """Choose a reader from the file name alone (None when it says nothing)."""
    name = plain_name(path)
    suffix = Path(name).suffix
    if suffix in _BY_SUFFIX:
        return _format(_BY_SUFFIX[suffix], "suffix")
    for pattern, spec in _BY_NAME:
        if fnmatch.fnmatchcase(name, pattern):
            return _format(spec, "name")
    if suffix in {".in", ".out", ".xml", ".txt", ".dat", ""}:
        return None  # generic names: the content decides
    return _pymatgen_by_name(name)


def _pymatgen_by_name(name: str) -> FileFormat | None:
    """Ask pymatgen's format registry about a name (ATAT, LMTO, PWmat, YAML...)."""
    from pymatgen.io.registry import get_structure_format

    try:
        handler = get_structure_format(filename=name)
    except (ValueError, ImportError):
        return None
    return FileFormat("pymatgen", handler.name, "name")


def looks_like_poscar(lines: list[str]) -> bool:
    """Return whether text lines start like a POSCAR (comment, scale, 3 vectors)."""
    if len(lines) < 8:
        return False
    if not _ONE_FLOAT.match(lines[1]):
        return False
    if not all(_THREE_FLOATS.match(line) for line in lines[2:5]):
        return False
    if _INTEGERS.match(lines[5]):
        return True
    return bool(_SYMBOLS.match(lines[5])) and bool(_INTEGERS.match(lines[6]))


def _looks_like_xyz(lines: list[str]) -> bool:
    if len(lines) < 3 or not lines[0].strip().isdigit():
        return False
    parts = lines[2].split()
    return len(parts) >= 4 and parts[0][:1].isalpha()


def _all(*patterns: str) -> Callable[[str], bool]:
    """Return a signature that holds when every (multi-line) pattern is found."""
    compiled = [re.compile(p, re.MULTILINE) for p in patterns]
    return lambda head: all(c.search(head) for c in compiled)


# Signatures of text formats, tried in order on a file's first bytes.
_SIGNATURES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("json", lambda head: head.lstrip()[:1] in {"{", "["}),
    ("ase:vasp-xml", lambda head: "<modeling>" in head[:4000]),
    ("cif", _all(r"^\s*data_", r"_(cell_length_a|atom_site_)")),
    ("ase:espresso-out", _all(r"(?i)program pwscf")),
    ("ase:espresso-in", _all(r"(?i)^\s*&system\b", r"(?i)atomic_positions")),
    ("ase:vasp-out", _all(r"^\s*vasp\.\d", r"POSCAR =")),
    ("ase:castep-cell", _all(r"(?i)^\s*%block\s+(lattice_|positions_)")),
    ("ase:res", _all(r"^TITL\b", r"^CELL\b")),
    ("ase:xsf", _all(r"^\s*PRIMVEC\b")),
    ("ase:lammps-data", _all(r"\bxlo\s+xhi\b", r"(?i)^\s*atoms\b")),
    ("ase:aims", _all(r"^\s*lattice_vector\s", r"^\s*atom(_frac)?\s")),
    (
        "ase:vasp-xdatcar",
        lambda head: (
            "direct configuration=" in head.lower()
            and looks_like_poscar(head.splitlines())
        ),
    ),
    ("poscar", lambda head: looks_like_poscar(head.splitlines())),
    ("ase:extxyz", lambda head: _looks_like_xyz(head.splitlines())),
    (
        "csv",
        lambda head: "cif" in [c.strip() for c in head.split("\n", 1)[0].split(",")],
    ),
)


def format_by_content(head: str) -> FileFormat | None:
    """Choose a reader from the first bytes of a text file."""
    for spec, matches in _SIGNATURES:
        if matches(head):
            return _format(spec, "content")
    return None


def format_by_ase_guess(path: Path) -> FileFormat | None:
    """Ask ASE (its name patterns and magic bytes) as a last resort."""
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    try:
        name = filetype(str(path), guess=False)
    except (UnknownFileTypeError, OSError, ValueError, KeyError):
        return None
    fmt = ioformats.get(name)
    if fmt is None or not fmt.can_read:
        return None
    return FileFormat("ase", name, "ase guess")


def detect_format(path: Path, head: bytes) -> FileFormat | None:
    """Return the reader of a file from its name and first bytes (None: unknown).

    Parameters
    ----------
    path
        The file.
    head
        Its first bytes, decompressed.
    """
    by_name = format_by_name(path)
    if by_name is not None:
        return by_name
    if head.startswith(b"- of Ulm"):  # ASE's own binary trajectory format
        return FileFormat("ase", "traj", "content")
    if b"\x00" not in head[:8192]:
        by_content = format_by_content(head.decode("utf-8", errors="replace"))
        if by_content is not None:
            return by_content
    return _pymatgen_by_name(plain_name(path)) or format_by_ase_guess(path)


def isotope_lines(text: str) -> tuple[str, dict[str, int]]:
    """Rename D and T at the start of atom lines to H (for ASE, which knows neither).

    An atom line starts with the symbol, then a number or a name (XYZ,
    Quantum ESPRESSO ATOMIC_SPECIES / ATOMIC_POSITIONS, CASTEP blocks, ...).

    Returns
    -------
    text, counts
        The text with H for D and T, and how many lines named each.
    """
    counts: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        counts[match.group(2)] = counts.get(match.group(2), 0) + 1
        return match.group(1) + "H"

    return _ISOTOPE_LINE.sub(rename, text), counts


def names_isotopes(head: str) -> bool:
    """Return whether the start of a text names D or T at the start of an atom line."""
    return _ISOTOPE_LINE.search(head) is not None
