"""Raw records: what a reader found in an input, before any check.

A reader never raises on bad content: it yields a :class:`RawRecord` whose
``error`` says, for a person, why the input could not be read.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from pymatgen.core import Composition, Structure
from pymatgen.io.cif import CifParser

SNIPPET = 200


@dataclass
class RawRecord:
    """One structure (or the reason it could not be read) from an input.

    ``input`` names the record (the file and its place in it); ``file`` the
    file alone, for per-file reports; ``notes`` what the reader changed or left
    out (isotopes read as hydrogen, velocities, oxidation states).
    """

    input: str
    structure: Structure | None = None
    material_id: str | None = None
    provenance: str | None = None
    licence: str | None = None
    formation_energy_per_atom: Any = None
    energy_source: str | None = None
    e_above_hull: Any = None
    band_gap: Any = None
    error: str | None = None
    snippet: str = ""
    file: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def failed(
        cls, input: str, error: str, snippet: Any = "", file: str | None = None
    ) -> RawRecord:
        """Return a record that could not be read."""
        text = snippet if isinstance(snippet, str) else repr(snippet)
        return cls(input=input, error=error, snippet=text[:SNIPPET], file=file)


def _short(exc: BaseException | Warning | str) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return message if len(message) <= 200 else message[:200] + "..."


CELL_TAGS = (
    "_cell_length_a",
    "_cell_length_b",
    "_cell_length_c",
    "_cell_angle_alpha",
    "_cell_angle_beta",
    "_cell_angle_gamma",
)
_BLOCK_ERROR = re.compile(
    r"No structure parsed for section (\d+) in CIF\.\s*(.*)", re.S
)


def _cif_syntax_problem(exc: Exception) -> str:
    """Explain an error of pymatgen's CIF tokenizer for a person."""
    message = _short(exc)
    if (
        isinstance(exc, ZeroDivisionError)
        or "zip()" in message
        or "multiple" in message
    ):
        return (
            "truncated or malformed CIF: the values of a loop_ do not fill its "
            "columns (is the file cut short?)"
        )
    return f"unreadable CIF: {message}"


def _cif_block_problem(block: Any, detail: str) -> str:
    """Explain why pymatgen could not build a structure from one CIF data block."""
    data = {tag.lower(): value for tag, value in block.data.items()}  # tags ignore case
    missing = [tag for tag in CELL_TAGS if tag not in data]
    if len(missing) == len(CELL_TAGS):
        return "the CIF has no cell parameters (_cell_length_a, ... _cell_angle_gamma)"
    if missing:
        return f"the CIF lacks the cell parameter(s) {', '.join(missing)}"
    if not any(
        tag.startswith(("_atom_site_fract_", "_atom_site_cartn_")) for tag in data
    ):
        return "the CIF lists no atom sites (_atom_site_fract_x, ...)"
    first = detail.strip().splitlines()[0] if detail.strip() else ""
    if "singular matrix" in first.lower():
        cell = ", ".join(f"{tag.rsplit('_', 1)[-1]}={data[tag]}" for tag in CELL_TAGS)
        return f"zero-volume cell: the cell parameters ({cell}) give no 3-D lattice"
    if first.startswith("could not convert string to float"):
        value = first.split(":", 1)[-1].strip()
        return f"the CIF holds a value that is not a number: {value}"
    if first.startswith("'_") and first.endswith("'"):
        return f"the CIF lacks the field {first.strip(chr(39))}"
    return f"the CIF data block could not be read as a structure ({_short(first)})"


def _formula_problem(block: Any, structure: Structure) -> str | None:
    """Compare the atom list with ``_chemical_formula_sum``: a sign of truncation.

    Atomic fractions are compared with a tolerance of 0.01, so that rounded or
    fractional (disordered) formulas match their atom lists.
    """
    declared = block.data.get("_chemical_formula_sum")
    if not declared:
        return None
    try:
        expected = Composition(str(declared).replace("'", ""))
    except Exception:
        return None
    found = structure.composition.element_composition
    if expected.element_composition.fractional_composition.almost_equals(
        found.fractional_composition, rtol=0, atol=0.01
    ):
        return None
    return (
        f"truncated or inconsistent CIF: it declares {expected.reduced_formula} but "
        f"its atom list gives {found.reduced_formula}"
    )


def structures_from_cif(text: str) -> tuple[list[Structure], list[str]]:
    """Parse every data block of a CIF text.

    Returns
    -------
    structures, problems
        The structures read, and why blocks could not be read (or why the atom
        list contradicts the declared formula, a sign of truncation).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parser = CifParser.from_str(text)
        except Exception as exc:
            return [], [_cif_syntax_problem(exc)]
        blocks = list(parser._cif.data.values())
        if not blocks:
            return [], ["not a CIF: no data_ block found"]
        try:
            structures = parser.parse_structures(primitive=False, on_error="ignore")
        except ValueError:
            structures = []  # "no structures": the reasons are in parser.warnings
        except Exception as exc:
            return [], [f"unreadable CIF: {_short(exc)}"]
    # pymatgen gives one structure per readable block, in order, and a message
    # naming the (1-based) section for every block it could not read.
    failed = {
        int(match.group(1)) - 1: match.group(2)
        for message in parser.warnings
        if (match := _BLOCK_ERROR.match(str(message)))
    }
    problems: list[str] = []
    read_blocks = []
    for i, block in enumerate(blocks):
        if i in failed:
            where = f"data block {block.header}: " if len(blocks) > 1 else ""
            problems.append(where + _cif_block_problem(block, failed[i]))
        else:
            read_blocks.append(block)
    if len(read_blocks) != len(structures):  # a block gave no structure silently
        return structures, [
            *problems,
            "a CIF data block could not be read as a structure",
        ]
    checked: list[Structure] = []
    for block, structure in zip(read_blocks, structures, strict=True):
        if (problem := _formula_problem(block, structure)) is not None:
            problems.append(problem)
        else:
            checked.append(structure)
    return checked, problems


def _structure_data_problem(exc: Exception) -> str:
    """Explain why a Structure (or entry) dict could not be read."""
    message = _short(exc)
    if match := re.match(r"'?([^' ]+)'? is not a valid Element", message):
        return f"unknown element {match.group(1)!r}"
    if isinstance(exc, KeyError):
        return f"invalid structure data: the field {message} is missing"
    return f"invalid structure data: {message}"


def _json_kind(item: Any) -> str:
    """Name the JSON type of a decoded value, for a person."""
    if item is None:
        return "null"
    if isinstance(item, bool):
        return f"the value {str(item).lower()}"
    if isinstance(item, int | float):
        return f"the number {item}"
    if isinstance(item, str):
        return "a string"
    return "a list" if isinstance(item, list) else f"a {type(item).__name__}"


def record_from_dict(item: Any, input: str) -> RawRecord:
    """Interpret one JSON item: a Structure, a ComputedStructureEntry or a record.

    Records carry ``structure`` (a Structure dict or CIF text) and optionally
    ``material_id``, ``formation_energy_per_atom``, ``e_above_hull`` (or
    ``energy_above_hull``), ``band_gap``, ``source`` and ``licence``.
    """
    if not isinstance(item, dict):
        return RawRecord.failed(
            input,
            f"expected a JSON object describing a structure, got {_json_kind(item)}",
            item,
        )
    kind = item.get("@class")
    try:
        if kind == "Structure":
            return RawRecord(input=input, structure=Structure.from_dict(item))
        if kind == "ComputedStructureEntry":
            # pymatgen.entries pulls in the compatibility schemes (seconds to
            # import): load it only when an entry is met
            from pymatgen.entries.computed_entries import ComputedStructureEntry

            entry = ComputedStructureEntry.from_dict(item)
            data = entry.data or {}
            return RawRecord(
                input=input,
                structure=entry.structure,
                material_id=str(entry.entry_id) if entry.entry_id else None,
                formation_energy_per_atom=data.get("formation_energy_per_atom"),
                energy_source="ComputedStructureEntry data",
                e_above_hull=data.get("e_above_hull"),
                band_gap=data.get("band_gap"),
            )
        if "structure" in item:
            raw = item["structure"]
            if isinstance(raw, str):
                structures, problems = structures_from_cif(raw)
                if problems or len(structures) != 1:
                    reason = problems[0] if problems else "the CIF holds no structure"
                    return RawRecord.failed(input, reason, raw)
                structure = structures[0]
            else:
                structure = Structure.from_dict(raw)
            e_hull = item.get("e_above_hull", item.get("energy_above_hull"))
            return RawRecord(
                input=input,
                structure=structure,
                material_id=str(item["material_id"])
                if item.get("material_id")
                else None,
                provenance=item.get("source"),
                licence=item.get("licence") or item.get("license"),
                formation_energy_per_atom=item.get("formation_energy_per_atom"),
                energy_source=item.get("energy_source") or item.get("source"),
                e_above_hull=e_hull,
                band_gap=item.get("band_gap"),
            )
    except Exception as exc:
        return RawRecord.failed(input, _structure_data_problem(exc), item)
    return RawRecord.failed(
        input,
        "JSON object is neither a pymatgen Structure, a ComputedStructureEntry nor "
        "a record with a 'structure' field",
        item,
    )
