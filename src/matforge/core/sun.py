"""The S.U.N. rate of a campaign and the relaxation RMSD, as MatterGen defines them.

MatterGen (Zeni et al., Nature 2025; its ``mattergen/evaluation`` code) judges
generated crystals after relaxation:

* **stable**: ``e_above_hull <= threshold`` against the reference convex hull
  (MP2020-corrected phases; ``allow_negative``, so crystals below the hull
  count); the threshold is 0.1 eV/atom, and 0.0 eV/atom is reported beside it;
* **unique**: within the generated set, structures are grouped by reduced
  formula and matched pairwise (pymatgen ``StructureMatcher``); of each group of
  matching structures one counts as unique (MatterGen: the first in order;
  matforge's candidates builder: the group's representative, the others marked
  ``duplicate``), so the number of unique crystals is the number of groups;
* **novel**: no structure of the reference data set matches it;
* **S.U.N. rate**: the number of crystals that are stable *and* unique *and*
  novel, divided by the number of crystals submitted, failed relaxations
  included (they count as not stable).

Where matforge differs: a crystal outside the campaign's scope (for the
hydride campaign, one that is not a metal hydride: pure hydrogen, a metal
without H) is never S.U.N., though it still counts in the total. MatterGen
generates any inorganic crystal and counts them all; a hydride generator that
decodes solid hydrogen has not discovered a hydride, and such crystals sit on
the hull of the element (H2 at 0 eV/atom) and would otherwise inflate the
rate. ``out_of_scope`` says how many there were.

The mean RMSD between generated and relaxed structures (MatterGen's second
figure) is the mean over the crystals that have one (failed ones skipped). Its
RMSD (:func:`matched_rmsd`) matches the relaxed crystal against the generated
one with a loose matcher (ltol 0.5, stol 0.5, angle 10 degrees, primitive cells,
no volume scaling, supercells tried) and gives the RMS site distance in
angstrom; when no match is found it gives the cap, 0.5 (V/N)^(1/3).

Novelty here is what the caller's records say. matforge's ``is_novel`` matches
structures against the known crystals it holds (stored hydrides, references,
mp-api); the 84,295 offline MP compositions have no structures, so a crystal of
a composition MP lists but matforge holds no crystal of is structure-novel
without having been compared. :func:`sun_rate` therefore also counts
``sun_new_formula``: S.U.N. crystals whose reduced formula no known material or
composition has (``same_ratio`` false), a lower bound on the S.U.N. rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

STABILITY_THRESHOLDS = (0.1, 0.0)
"""eV/atom above the hull: MatterGen's threshold and the strict one."""
RMSD_CAP = 0.5
"""MatterGen's site tolerance of the RMSD matcher, and the RMSD of no match."""


@dataclass(frozen=True)
class SunRecord:
    """One generated crystal as the S.U.N. rate sees it.

    Attributes
    ----------
    id
        The crystal's id.
    e_above_hull
        eV/atom above the reference hull after relaxation; None when the
        relaxation failed or gave no energy (then not stable).
    unique
        Whether it is its duplicate group's counted member.
    novel
        Whether no known structure matches it.
    same_ratio
        Whether a known material or composition has its reduced formula.
    rmsd
        RMSD between the generated and the relaxed crystal, angstrom.
    in_scope
        Whether it is what the campaign looks for (a metal hydride); a
        crystal out of scope is never S.U.N.
    """

    id: str
    e_above_hull: float | None
    unique: bool
    novel: bool
    same_ratio: bool = False
    rmsd: float | None = None
    in_scope: bool = True


@dataclass(frozen=True)
class SunCounts:
    """The counts at one stability threshold."""

    threshold: float
    stable: int
    stable_unique: int
    sun: int
    sun_new_formula: int
    total: int

    @property
    def stable_rate(self) -> float:
        """The share of submitted crystals that are stable."""
        return self.stable / self.total if self.total else math.nan

    @property
    def sun_rate(self) -> float:
        """The share of submitted crystals that are stable, unique and novel."""
        return self.sun / self.total if self.total else math.nan

    @property
    def sun_new_formula_rate(self) -> float:
        """The S.U.N. share counting only reduced formulas nobody lists."""
        return self.sun_new_formula / self.total if self.total else math.nan


def stored_counts(sun: Mapping[str, Any]) -> dict[float, Mapping[str, Any]]:
    """Return stored S.U.N. figures' counts by threshold.

    ``sun`` is :meth:`SunSummary.as_dict` as a run record keeps it.
    """
    return {t["threshold"]: t for t in sun.get("thresholds", ())}


@dataclass(frozen=True)
class SunSummary:
    """The S.U.N. rate of a campaign at each threshold, and the mean RMSD."""

    total: int
    evaluated: int
    unique: int
    novel: int
    by_threshold: tuple[SunCounts, ...]
    mean_rmsd: float
    rmsd_count: int
    sun_ids: dict[float, tuple[str, ...]] = field(default_factory=dict)
    out_of_scope: int = 0

    def at(self, threshold: float) -> SunCounts:
        """Return the counts at a threshold.

        Raises
        ------
        KeyError
            If that threshold was not counted.
        """
        for counts in self.by_threshold:
            if math.isclose(counts.threshold, threshold, abs_tol=1e-12):
                return counts
        raise KeyError(f"no S.U.N. counts at {threshold} eV/atom")

    def as_dict(self) -> dict[str, object]:
        """Return the figures as plain values (for a run document)."""
        return {
            "total": self.total,
            "evaluated": self.evaluated,
            "unique": self.unique,
            "novel": self.novel,
            "out_of_scope": self.out_of_scope,
            "mean_rmsd": None if math.isnan(self.mean_rmsd) else self.mean_rmsd,
            "rmsd_count": self.rmsd_count,
            "thresholds": [
                {
                    "threshold": c.threshold,
                    "stable": c.stable,
                    "stable_unique": c.stable_unique,
                    "sun": c.sun,
                    "sun_rate": c.sun_rate,
                    "sun_new_formula": c.sun_new_formula,
                    "sun_new_formula_rate": c.sun_new_formula_rate,
                }
                for c in self.by_threshold
            ],
        }


def sun_rate(
    records: Iterable[SunRecord],
    thresholds: Sequence[float] = STABILITY_THRESHOLDS,
    total: int | None = None,
) -> SunSummary:
    """Return the S.U.N. rate of generated crystals (MatterGen's definition).

    Parameters
    ----------
    records
        One per generated crystal that reached the evaluation (ids unique).
    thresholds
        Stability thresholds, eV/atom above the hull (``<=`` counts as stable).
    total
        The number of crystals submitted, when more than the records (crystals
        lost before the evaluation count as not S.U.N.); the records' number
        when None.

    Returns
    -------
    SunSummary
        Counts and rates per threshold, the S.U.N. ids, and the mean RMSD.

    Raises
    ------
    ValueError
        If an id repeats, a threshold is not finite, or ``total`` is below the
        number of records.
    """
    items = list(records)
    ids = [r.id for r in items]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"repeated crystal ids: {', '.join(repeated[:5])}")
    for threshold in thresholds:
        if not math.isfinite(threshold):
            raise ValueError(f"stability threshold {threshold} is not finite")
    submitted = len(items) if total is None else int(total)
    if submitted < len(items):
        raise ValueError(f"total {submitted} is below the {len(items)} records")
    counted = []
    sun_ids: dict[float, tuple[str, ...]] = {}
    for threshold in thresholds:
        stable = [r for r in items if _stable(r.e_above_hull, threshold)]
        sun = [r for r in stable if r.unique and r.novel and r.in_scope]
        counted.append(
            SunCounts(
                threshold=float(threshold),
                stable=len(stable),
                stable_unique=sum(r.unique for r in stable),
                sun=len(sun),
                sun_new_formula=sum(not r.same_ratio for r in sun),
                total=submitted,
            )
        )
        sun_ids[float(threshold)] = tuple(r.id for r in sun)
    rmsds = [r.rmsd for r in items if r.rmsd is not None and math.isfinite(r.rmsd)]
    return SunSummary(
        total=submitted,
        evaluated=sum(r.e_above_hull is not None for r in items),
        unique=sum(r.unique for r in items),
        novel=sum(r.novel for r in items),
        by_threshold=tuple(counted),
        mean_rmsd=math.fsum(rmsds) / len(rmsds) if rmsds else math.nan,
        rmsd_count=len(rmsds),
        sun_ids=sun_ids,
        out_of_scope=sum(not r.in_scope for r in items),
    )


def _stable(e_above_hull: float | None, threshold: float) -> bool:
    return (
        e_above_hull is not None
        and math.isfinite(e_above_hull)
        and e_above_hull <= threshold
    )


def first_of_groups(labels: Sequence[str]) -> list[bool]:
    """Return, for crystals labelled by duplicate group, which one counts as unique.

    Parameters
    ----------
    labels
        Each crystal's group label (e.g. the id it duplicates, else its own id),
        in the order MatterGen would meet them.

    Returns
    -------
    list of bool
        True for the first crystal of each group.
    """
    seen: set[str] = set()
    flags = []
    for label in labels:
        flags.append(label not in seen)
        seen.add(label)
    return flags


def rmsd_matcher() -> StructureMatcher:
    """Return the loose matcher of MatterGen's relaxation RMSD."""
    return StructureMatcher(
        ltol=0.5,
        stol=RMSD_CAP,
        angle_tol=10,
        primitive_cell=True,
        scale=False,
        attempt_supercell=True,
        allow_subset=False,
    )


def matched_rmsd(
    generated: Structure,
    relaxed: Structure,
    matcher: StructureMatcher | None = None,
) -> float:
    """Return the RMSD (angstrom) between a generated and its relaxed crystal.

    The two are matched (:func:`rmsd_matcher`); the matcher's RMS distance,
    normalised by ``(V/N)^(1/3)`` of the lattice of their mean lattice
    parameters, is turned back into angstrom. Without a match the cap
    ``0.5 (V/N)^(1/3)`` is returned. MatterGen first symmetrises the generated
    crystal (refined, primitive, LLL-reduced cell); here it is compared as
    generated, so its small departures from symmetry count in the RMSD.

    Parameters
    ----------
    generated
        The crystal before relaxation.
    relaxed
        The relaxed crystal.
    matcher
        The matcher; :func:`rmsd_matcher` when None.

    Returns
    -------
    float
        The RMSD in angstrom.
    """
    matcher = matcher or rmsd_matcher()
    found = matcher.get_rms_dist(relaxed, generated)
    # the matcher's length unit: (V/N)^(1/3) of the mean of the two lattices
    mean = (np.array(relaxed.lattice.parameters) + generated.lattice.parameters) / 2
    length = (Lattice.from_parameters(*mean).volume / len(relaxed)) ** (1 / 3)
    if found is None:
        return RMSD_CAP * length
    return float(found[0]) * length
