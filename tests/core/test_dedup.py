import gzip
import itertools
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure

from matforge.core.dedup import duplicate_groups
from matforge.core.novelty import MatchEntry, make_matcher


@cache
def _structures(path: Path) -> tuple[tuple[str, Structure], ...]:
    """40 crystals: 10 small seed hydrides, each perturbed, strained, doubled..."""
    with gzip.open(path, "rt") as handle:
        records = json.load(handle)
    seeds = [Structure.from_dict(r["structure"]) for r in records]
    seeds = [s for s in seeds if len(s) <= 4][:10]
    rng = np.random.default_rng(7)
    out = []
    for k, seed in enumerate(seeds):
        for v in range(4):
            s = seed.copy()
            if v == 1:
                s.apply_strain(0.02)
            elif v == 2:
                s.make_supercell([1, 2, 1])
            elif v == 3:
                s.perturb(0.6, min_distance=0.3, seed=k)  # rattled: likely new
            s.perturb(0.03, min_distance=0.0, seed=100 + 4 * k + v)
            out.append((f"c{k:02d}-{v}", s))
    order = rng.permutation(len(out))
    return tuple(out[i] for i in order)


@pytest.fixture
def crystals(shared_data):
    return list(_structures(shared_data / "hydrides_seed.json.gz"))


def _naive_components(crystals, matcher) -> set[frozenset[str]]:
    """Components of fit() over every pair, smaller id first (the reference)."""
    ids = sorted(i for i, _ in crystals)
    by_id = dict(crystals)
    parent = {i: i for i in ids}

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in itertools.combinations(ids, 2):
        if matcher.fit(by_id[a], by_id[b]):
            parent[find(b)] = find(a)
    groups: dict[str, set[str]] = {}
    for i in ids:
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values()}


def _as_sets(entries, groups) -> set[frozenset[str]]:
    return {frozenset(entries[i].id for i in g) for g in groups}


def test_groups_equal_the_naive_all_pairs_components(crystals):
    matcher = make_matcher()
    entries = [MatchEntry(i, s) for i, s in crystals]
    groups, stats = duplicate_groups(entries, matcher)
    assert _as_sets(entries, groups) == _naive_components(crystals, matcher)
    n = len(crystals)
    assert stats.pairs_compared < stats.pairs_in_buckets < n * (n - 1) // 2
    # the perturbed, strained and doubled copies of a seed are one group
    found = _as_sets(entries, groups)
    for k in range(10):
        family = {f"c{k:02d}-{v}" for v in range(3)}
        assert any(family <= g for g in found), k


def test_settled_groups_are_reused_and_give_the_same_answer(crystals):
    matcher = make_matcher()
    first, later = crystals[:25], crystals[25:]
    entries = [MatchEntry(i, s) for i, s in first]
    groups, _ = duplicate_groups(entries, matcher)
    label = {}
    for g in groups:
        for i in g:
            label[entries[i].id] = entries[g[0]].id
    old = [
        MatchEntry(i, s, reduced_nsites=entries[k].reduced_nsites)
        for k, (i, s) in enumerate(first)
    ]
    new = [MatchEntry(i, s) for i, s in later]
    both = old + new
    settled = [label[e.id] for e in old] + [None] * len(new)
    incremental, stats = duplicate_groups(both, matcher, settled)
    scratch, scratch_stats = duplicate_groups(
        [MatchEntry(i, s) for i, s in crystals], matcher
    )
    assert _as_sets(both, incremental) == _as_sets(
        [MatchEntry(i, s) for i, s in crystals], scratch
    )
    assert stats.pairs_compared < scratch_stats.pairs_compared
    # settled entries that are never compared are never reduced
    assert any(e.reduced is None for e in old)


def test_settled_labels_must_match_the_entries(crystals):
    entries = [MatchEntry(i, s) for i, s in crystals[:3]]
    with pytest.raises(ValueError, match="one label"):
        duplicate_groups(entries, make_matcher(), settled=[None])
