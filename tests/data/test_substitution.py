from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from matforge.data.substitution import (
    POOLS,
    dedupe,
    pool_elements,
    proposal_id,
    propose_substitutions,
)


def test_pools() -> None:
    assert pool_elements(["alkali", "Al"]) == [*POOLS["alkali"], "Al"]
    both = pool_elements(["transition_metals", "rare_earths"])
    assert both.count("Y") == 1  # in both pools, listed once
    with pytest.raises(ValueError, match="unknown element pool"):
        pool_elements(["noble_gases"])


def test_proposals_keep_the_charge_and_are_deterministic(lih, mgh2) -> None:
    parents = [("p-lih", lih), ("p-mgh2", mgh2)]
    elements = pool_elements(["alkali", "alkaline_earth"])
    first = propose_substitutions(parents, elements, per_parent=3)
    again = propose_substitutions(parents, elements, per_parent=3)
    assert [p.proposal_id for p in first] == [p.proposal_id for p in again]
    assert len({p.proposal_id for p in first}) == len(first)
    for p in first:
        [(old, new)] = p.substitution
        if p.parent_id == "p-lih":
            assert old == "Li"
            assert new in POOLS["alkali"]  # +1 ions only
        else:
            assert old == "Mg"
            assert new in POOLS["alkaline_earth"]  # +2 ions only
        assert p.proposal_id == proposal_id(p.parent_id, p.substitution)
        assert p.probability > 0
    # round robin: each parent's best proposal comes first
    assert {first[0].parent_id, first[1].parent_id} == {"p-lih", "p-mgh2"}
    nah = next(p for p in first if p.substitution == (("Li", "Na"),))
    assert nah.structure.composition.reduced_formula == "NaH"
    assert nah.structure.volume > lih.volume  # Na is larger than Li


def test_dedupe_against_known_structures_and_each_other(lih) -> None:
    [nah] = propose_substitutions(
        [("p-lih", lih)], ["Na"], per_parent=1, min_probability=1e-6
    )
    known_nah = nah.structure.copy()
    known_nah.scale_lattice(nah.structure.volume * 1.05)
    kept, dups = dedupe([nah], [("mp-nah", known_nah)])
    assert kept == []
    assert dups == {nah.proposal_id: "mp-nah"}
    kept, dups = dedupe([nah, nah], [])
    assert kept == [nah]
    assert dups == {nah.proposal_id: nah.proposal_id}
    other = Structure(Lattice.cubic(3.0), ["Na", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    kept, _ = dedupe([nah], [("mp-cscl", other)])  # CsCl type is another crystal
    assert kept == [nah]


def test_a_match_either_way_round_counts(monkeypatch) -> None:
    from matforge.data import substitution

    class OneWay:
        def fit(self, a, b):  # matches only when the known structure comes first
            return a.composition.reduced_formula == "KH"

    monkeypatch.setattr(substitution, "_matcher", OneWay)
    new = Structure(Lattice.cubic(3.0), ["Na", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    known = Structure(Lattice.cubic(3.2), ["K", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert substitution.find_match(new, [("kh", known)]) == "kh"
