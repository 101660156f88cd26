"""Groups of duplicate crystals, found without comparing all pairs.

Two crystals are duplicates when ``StructureMatcher.fit`` says so; a group is a
connected component of that relation (the matcher is not transitive, so a
component may hold two members that do not match each other directly). The
components are exactly those of the naive all-pairs comparison, found faster:

1. only entries in the same safe bucket (reduced formula, sites of the reduced
   cell) can match, so other pairs are never compared;
2. each cell is reduced once, not once per pair;
3. a pair already joined through other members is not compared (union-find);
4. pairs of entries whose grouping is already settled (an earlier run, same
   settings, both unchanged) are not compared again: same settled label means
   joined, different labels means not matched;
5. pairs in the same space group are compared first, so that likely matches
   join components early and save the comparisons of step 3.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pymatgen.analysis.structure_matcher import StructureMatcher

from matforge.core.features import analyse_symmetry
from matforge.core.novelty import MatchEntry, entries_match


@dataclass
class DedupStats:
    """How much work a grouping took."""

    entries: int = 0
    buckets: int = 0
    pairs_in_buckets: int = 0
    pairs_compared: int = 0
    pairs_matched: int = 0


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def duplicate_groups(
    entries: Sequence[MatchEntry],
    matcher: StructureMatcher,
    settled: Sequence[str | None] | None = None,
    symprec: float = 0.1,
) -> tuple[list[list[int]], DedupStats]:
    """Group entries into connected components of the structure-match relation.

    Parameters
    ----------
    entries
        The crystals, with unique ids.
    matcher
        The structure matcher (:func:`matforge.core.novelty.make_matcher`).
    settled
        For each entry, the label of the group it was found in before, when
        that grouping still holds (same settings, entry unchanged, and no
        member of that group changed); None for entries to compare afresh.
    symprec
        Symmetry tolerance of the space groups that order the comparisons.

    Returns
    -------
    groups : list of list of int
        Indices into ``entries``, each group sorted, groups sorted by first index.
    stats : DedupStats
        Counts of buckets and of pairs compared.
    """
    n = len(entries)
    settled = list(settled) if settled is not None else [None] * n
    if len(settled) != n:
        raise ValueError("settled must give one label (or None) per entry")
    stats = DedupStats(entries=n)
    uf = _UnionFind(n)
    first_of_label: dict[str, int] = {}
    for i, label in enumerate(settled):
        if label is not None:
            uf.union(first_of_label.setdefault(label, i), i)

    buckets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, entry in enumerate(entries):
        buckets[entry.bucket(matcher)].append(i)
    stats.buckets = len(buckets)

    for members in buckets.values():
        stats.pairs_in_buckets += len(members) * (len(members) - 1) // 2
        fresh = [i for i in members if settled[i] is None]
        if not fresh:
            continue
        spacegroup = {}
        for i in members:
            if entries[i].spacegroup is None:
                entries[i].spacegroup = analyse_symmetry(
                    entries[i].structure, symprec
                ).number
            spacegroup[i] = entries[i].spacegroup
        pairs = [
            (i, j)
            for i in fresh
            for j in members
            if j != i and (settled[j] is not None or j > i)
        ]
        pairs.sort(key=lambda p: (spacegroup[p[0]] != spacegroup[p[1]], p))
        for i, j in pairs:
            if uf.find(i) == uf.find(j):
                continue
            stats.pairs_compared += 1
            if entries_match(entries[i], entries[j], matcher):
                stats.pairs_matched += 1
                uf.union(i, j)

    components: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        components[uf.find(i)].append(i)
    return sorted(components.values(), key=lambda g: g[0]), stats
