"""Is a crystal already known? Structure matching against known materials.

A candidate is compared with the known materials of its reduced formula only:

- ``matched_ids``: known materials that pymatgen's ``StructureMatcher`` finds
  to be the same crystal (any setting, rotation, small distortion, supercell);
- ``reference_id``: the one known material the candidate is reported against
  (the paper's "MP id" column): the first matched material; without a match, the
  first known material of the same ratio whose cell is known; else the first
  known composition of that ratio (the offline MP compositions carry no cell);
- ``same_formula`` (the paper's column): the candidate's cell formula, Z
  included, is the cell formula of ``reference_id`` as MP lists it. The paper
  marks Ti1H2 TRUE and Ti2H4 FALSE against mp-1077482 (TiH2, Z = 1): a doubled
  TiH2 cell is not the same formula as its reference, even where another TiH2
  polymorph happens to have a Ti2H4 cell (mp-1077353): that one is listed in
  ``same_formula_ids`` (every known material with exactly this cell formula),
  which does not set the flag;
- ``same_ratio``: a known material or composition has this reduced formula.

Known materials without a structure (:meth:`KnownMaterial.from_composition`,
e.g. the 84,295 offline MP compositions) count for ``same_ratio`` and
``reference_id`` but never match a crystal, and never make ``same_formula``
true: their cell (Z) is unknown.

Matching compares cells reduced once (Niggli, primitive) by the matcher's own
reduction, so that every pair costs only the lattice and site search; two
reduced cells with different numbers of sites never match, which makes
``(reduced formula, sites in the reduced cell)`` a safe bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure


def make_matcher(
    ltol: float = 0.2, stol: float = 0.3, angle_tol: float = 5.0
) -> StructureMatcher:
    """Return the structure matcher of the novelty and duplicate checks.

    Primitive-cell reduction and volume scaling are on, supercell search off
    (a supercell of a crystal reduces to the same primitive cell anyway).
    """
    return StructureMatcher(
        ltol=ltol,
        stol=stol,
        angle_tol=angle_tol,
        primitive_cell=True,
        scale=True,
        attempt_supercell=False,
    )


def reduce_for_matching(structure: Structure, matcher: StructureMatcher) -> Structure:
    """Return the cell the matcher compares: Niggli-reduced, then primitive.

    This is the matcher's own reduction (the one ``StructureMatcher.fit`` and
    ``group_structures`` apply), so ``fit(a', b', skip_structure_reduction=True)``
    on reduced cells answers as ``fit(a, b)`` on the originals.
    """
    processed = matcher._process_species([structure])[0]
    return matcher._get_reduced_structure(
        processed, matcher._primitive_cell, niggli=True
    )


@dataclass
class MatchEntry:
    """A structure to compare, with its matcher-reduced cell computed once.

    Parameters
    ----------
    id
        Identifier; pairs are always fitted in the order of their ids.
    structure
        The structure.
    reduced
        Its matcher-reduced cell, when already known.
    reduced_nsites
        The number of sites of that cell, when known without the cell (a stored
        value); it decides the bucket without reducing.
    spacegroup
        The space-group number, when known; it only orders the comparisons.
    """

    id: str
    structure: Structure
    reduced: Structure | None = None
    reduced_nsites: int | None = None
    spacegroup: int | None = None
    _formula: str | None = field(default=None, repr=False)

    @property
    def reduced_formula(self) -> str:
        """The reduced formula of the structure."""
        if self._formula is None:
            self._formula = self.structure.composition.reduced_formula
        return self._formula

    def reduced_cell(self, matcher: StructureMatcher) -> Structure:
        """Return (and keep) the matcher-reduced cell."""
        if self.reduced is None:
            self.reduced = reduce_for_matching(self.structure, matcher)
            self.reduced_nsites = len(self.reduced)
        return self.reduced

    def bucket(self, matcher: StructureMatcher) -> tuple[str, int]:
        """Return the safe bucket: reduced formula and sites of the reduced cell."""
        if self.reduced_nsites is None:
            self.reduced_cell(matcher)
        assert self.reduced_nsites is not None
        return self.reduced_formula, self.reduced_nsites


def entries_match(a: MatchEntry, b: MatchEntry, matcher: StructureMatcher) -> bool:
    """Return ``matcher.fit`` of two entries, the smaller id first.

    ``fit`` is not symmetric in rare cases; fixing the order makes the answer
    independent of the order in which entries are met.
    """
    if a.bucket(matcher) != b.bucket(matcher):
        return False
    first, second = (a, b) if a.id <= b.id else (b, a)
    return bool(
        matcher.fit(
            first.reduced_cell(matcher),
            second.reduced_cell(matcher),
            skip_structure_reduction=True,
        )
    )


@dataclass(frozen=True)
class KnownMaterial:
    """A known material: its id, its composition and, optionally, its crystal.

    ``cell_known`` is False for a composition known only by its ratio (a
    reduced formula without Z, as in the offline MP compositions).
    """

    material_id: str
    composition: Composition
    entry: MatchEntry | None = None
    cell_known: bool = True
    _formula: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        """Keep the reduced formula (asked for once per comparison)."""
        object.__setattr__(self, "_formula", self.composition.reduced_formula)

    @classmethod
    def from_structure(cls, material_id: str, structure: Structure) -> KnownMaterial:
        """Make a known material from its crystal."""
        return cls(
            material_id, structure.composition, MatchEntry(material_id, structure)
        )

    @classmethod
    def from_composition(
        cls, material_id: str, composition: Composition | str
    ) -> KnownMaterial:
        """Make a material known by its ratio only (no crystal, no Z)."""
        return cls(material_id, Composition(composition), None, cell_known=False)

    @property
    def reduced_formula(self) -> str:
        """Its reduced formula."""
        return self._formula


@dataclass(frozen=True)
class Novelty:
    """How a crystal relates to the known materials."""

    formula: str
    reduced_formula: str
    matched_ids: tuple[str, ...] = ()
    same_formula_ids: tuple[str, ...] = ()
    same_ratio_ids: tuple[str, ...] = ()
    reference_id: str | None = None
    reference_formula: str | None = None

    @property
    def matched_id(self) -> str | None:
        """The first known material that is the same crystal, if any."""
        return self.matched_ids[0] if self.matched_ids else None

    @property
    def same_formula(self) -> bool:
        """Whether the reference material has exactly this cell formula (Z too)."""
        return self.reference_formula is not None and (
            self.reference_formula == self.formula
        )

    @property
    def same_ratio(self) -> bool:
        """Whether a known material has this reduced formula."""
        return bool(self.same_ratio_ids)

    @property
    def is_novel(self) -> bool:
        """Whether no known material is the same crystal."""
        return not self.matched_ids


def _id_order(material_id: str) -> tuple[str, int, str]:
    """Sort ids like mp-24726 by prefix and number, then as text."""
    prefix, _, number = material_id.rpartition("-")
    return (prefix, int(number), "") if number.isdigit() else ("", -1, material_id)


def formula_of(composition: Composition) -> str:
    """Return the cell formula as the documents write it (``Ti1H2``)."""
    return composition.formula.replace(" ", "")


def assess_novelty(
    structure: Structure | None,
    composition: Composition,
    known: Iterable[KnownMaterial],
    matcher: StructureMatcher,
    entry: MatchEntry | None = None,
) -> Novelty:
    """Compare a crystal (or, without one, a composition) with known materials.

    Parameters
    ----------
    structure
        The crystal; None compares the composition only (no matched ids).
    composition
        The composition of the cell.
    known
        Known materials; those of another reduced formula are ignored.
    matcher
        The structure matcher (:func:`make_matcher`).
    entry
        The crystal's :class:`MatchEntry`, to reuse its reduced cell.

    Returns
    -------
    Novelty
        The known ids that match, share the cell formula, share the ratio; each
        sorted (mp-2 before mp-10); the reference id and its cell formula.
    """
    reduced_formula = composition.reduced_formula
    same = [k for k in known if k.reduced_formula == reduced_formula]
    if structure is not None and entry is None:
        entry = MatchEntry("", structure)
    matched = sorted(
        {
            k.material_id
            for k in same
            if entry is not None
            and k.entry is not None
            and entries_match(entry, k.entry, matcher)
        },
        key=_id_order,
    )
    reference = _reference(same, matched)
    return Novelty(
        formula=formula_of(composition),
        reduced_formula=reduced_formula,
        matched_ids=tuple(matched),
        same_formula_ids=tuple(
            sorted(
                {
                    k.material_id
                    for k in same
                    if k.cell_known and k.composition == composition
                },
                key=_id_order,
            )
        ),
        same_ratio_ids=tuple(sorted({k.material_id for k in same}, key=_id_order)),
        reference_id=reference.material_id if reference is not None else None,
        reference_formula=formula_of(reference.composition)
        if reference is not None and reference.cell_known
        else None,
    )


def _reference(
    same: Sequence[KnownMaterial], matched: Sequence[str]
) -> KnownMaterial | None:
    """Return the known material a candidate is reported against.

    The first matched one; else the first of the ratio whose cell is known;
    else the first known composition of the ratio (ids in :func:`_id_order`).
    """
    by_id: dict[str, KnownMaterial] = {}
    for k in sorted(same, key=lambda k: (not k.cell_known, _id_order(k.material_id))):
        by_id.setdefault(k.material_id, k)  # an id with a cell wins
    if matched:
        return by_id[matched[0]]
    with_cell = [k for k in by_id.values() if k.cell_known]
    pool = with_cell or list(by_id.values())
    return min(pool, key=lambda k: _id_order(k.material_id)) if pool else None


def known_compositions(
    records: Iterable[tuple[str, Composition | str]],
) -> list[KnownMaterial]:
    """Return ratio-only known materials from ``(material_id, formula)`` pairs."""
    seen: dict[str, KnownMaterial] = {}
    for material_id, composition in records:
        if material_id not in seen:
            seen[material_id] = KnownMaterial.from_composition(material_id, composition)
    return list(seen.values())


def known_materials(
    records: Sequence[tuple[str, Structure]],
) -> list[KnownMaterial]:
    """Return known materials from ``(material_id, structure)`` pairs, first id wins."""
    seen: dict[str, KnownMaterial] = {}
    for material_id, structure in records:
        seen.setdefault(
            material_id, KnownMaterial.from_structure(material_id, structure)
        )
    return list(seen.values())
