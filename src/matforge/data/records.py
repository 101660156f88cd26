"""Raw records: what a reader found in an input, before any check.

A reader never raises on bad content: it yields a :class:`RawRecord` whose
``error`` says, for a person, why the input could not be read.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from pymatgen.core import Composition, Structure
from pymatgen.entries.computed_entries import ComputedStructureEntry
from pymatgen.io.cif import CifParser

SNIPPET = 200


@dataclass
class RawRecord:
    """One structure (or the reason it could not be read) from an input."""

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

    @classmethod
    def failed(cls, input: str, error: str, snippet: Any = "") -> RawRecord:
        """Return a record that could not be read."""
        text = snippet if isinstance(snippet, str) else repr(snippet)
        return cls(input=input, error=error, snippet=text[:SNIPPET])


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return message if len(message) <= 200 else message[:200] + "..."


def structures_from_cif(text: str) -> tuple[list[Structure], list[str]]:
    """Parse every data block of a CIF text.

    Returns
    -------
    structures, problems
        The structures read, and why blocks could not be read (or why the atom
        list contradicts the declared formula, a sign of truncation).
    """
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = CifParser(io.StringIO(text))
            structures = parser.parse_structures(primitive=False, on_error="ignore")
        except Exception as exc:
            return [], [f"unreadable CIF: {_short(exc)}"]
    n_blocks = len(parser._cif.data)
    if len(structures) < n_blocks:
        detail = "; ".join(
            sorted({_short(w.message) for w in caught if "parse" in str(w.message)})
        )
        problems.append(
            f"{n_blocks - len(structures)} of {n_blocks} CIF data block(s) could not "
            f"be read as a structure" + (f" ({detail})" if detail else "")
        )
    checked: list[Structure] = []
    for block, structure in zip(parser._cif.data.values(), structures, strict=False):
        declared = block.data.get("_chemical_formula_sum")
        if declared:
            try:
                expected = Composition(str(declared).replace("'", "")).reduced_formula
            except Exception:
                expected = None
            found = structure.composition.reduced_formula
            if expected is not None and expected != found:
                problems.append(
                    f"truncated or inconsistent CIF: it declares {expected} but its "
                    f"atom list gives {found}"
                )
                continue
        checked.append(structure)
    return checked, problems


def record_from_dict(item: Any, input: str) -> RawRecord:
    """Interpret one JSON item: a Structure, a ComputedStructureEntry or a record.

    Records carry ``structure`` (a Structure dict or CIF text) and optionally
    ``material_id``, ``formation_energy_per_atom``, ``e_above_hull`` (or
    ``energy_above_hull``), ``band_gap``, ``source`` and ``licence``.
    """
    if not isinstance(item, dict):
        return RawRecord.failed(
            input,
            "expected a JSON object describing a structure, "
            f"got a {type(item).__name__}",
            item,
        )
    kind = item.get("@class")
    try:
        if kind == "Structure":
            return RawRecord(input=input, structure=Structure.from_dict(item))
        if kind == "ComputedStructureEntry":
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
        return RawRecord.failed(input, f"invalid structure data: {_short(exc)}", item)
    return RawRecord.failed(
        input,
        "JSON object is neither a pymatgen Structure, a ComputedStructureEntry nor "
        "a record with a 'structure' field",
        item,
    )
