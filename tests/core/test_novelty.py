import gzip
import json
from functools import cache
from pathlib import Path

import pytest
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.operations import SymmOp

from matforge.core.novelty import (
    KnownMaterial,
    MatchEntry,
    assess_novelty,
    known_compositions,
    known_materials,
    make_matcher,
)


@cache
def _hydride_references(path: Path) -> list[KnownMaterial]:
    with gzip.open(path, "rt") as handle:
        records = json.load(handle)
    pairs = [
        (r["material_id"], Structure.from_dict(r["structure"]))
        for r in records
        if any(s["species"][0]["element"] == "H" for s in r["structure"]["sites"])
    ]
    return known_materials(pairs)


@pytest.fixture
def known_hydrides(shared_data) -> list[KnownMaterial]:
    """The hydrides among the offline references (about 70 materials)."""
    return _hydride_references(shared_data / "mp_binaries_reference.json.gz")


def _known(known: list[KnownMaterial], material_id: str) -> Structure:
    entry = next(k.entry for k in known if k.material_id == material_id)
    return entry.structure.copy()


def _rotated(s: Structure, angle: float) -> Structure:
    op = SymmOp.from_axis_angle_and_translation([1, 2, 3], angle)
    return Structure(op.operate_multi(s.lattice.matrix), s.species, s.frac_coords)


@pytest.fixture(scope="module")
def matcher():
    return make_matcher()


def test_a_rotated_perturbed_known_crystal_is_matched(known_hydrides, matcher):
    s = _rotated(_known(known_hydrides, "mp-24726"), 37.0)  # TiH2, Z = 1
    s.perturb(0.05, min_distance=0.0, seed=6)
    result = assess_novelty(s, s.composition, known_hydrides, matcher)
    assert result.matched_id == "mp-24726"
    assert result.same_formula  # Ti1H2 is known with Z = 1
    assert result.same_ratio
    assert "mp-1077353" in result.same_ratio_ids  # tetragonal Ti2H4
    assert not result.is_novel


def test_a_supercell_is_same_ratio_but_not_same_formula(known_hydrides, matcher):
    s = _known(known_hydrides, "mp-23703")  # LiH, Z = 1
    s.make_supercell([1, 1, 2])
    s.apply_strain(0.01)
    result = assess_novelty(s, s.composition, known_hydrides, matcher)
    assert result.formula == "Li2H2"
    assert result.matched_id == "mp-23703"
    assert not result.same_formula
    assert result.same_ratio
    assert result.same_ratio_ids == ("mp-23703",)


def test_z_counts_for_same_formula(known_hydrides, matcher):
    # TiH2 as a 2x2x1 supercell: Ti4H8 is known in no cell, TiH2 is
    ti = _known(known_hydrides, "mp-24726")
    ti.make_supercell([2, 2, 1])
    result = assess_novelty(ti, ti.composition, known_hydrides, matcher)
    assert (result.formula, result.same_formula, result.same_ratio) == (
        "Ti4H8",
        False,
        True,
    )
    assert result.matched_id == "mp-24726"
    # Ti2H4 is the cell formula of mp-1077353: same formula without a match
    only = assess_novelty(None, Composition("Ti2H4"), known_hydrides, matcher)
    assert only.same_formula_ids == ("mp-1077353",)
    assert only.matched_ids == ()
    assert only.reference_id == "mp-24726"  # the first TiH2 with a cell
    assert not only.same_formula


def test_another_crystal_of_a_known_formula_is_novel(known_hydrides, matcher):
    # LiH in the zincblende structure; the known LiH (mp-23703) is rock salt
    s = Structure.from_spacegroup(
        "F-43m", Lattice.cubic(4.6), ["Li", "H"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    ).get_primitive_structure()
    result = assess_novelty(s, s.composition, known_hydrides, matcher)
    assert result.is_novel
    assert result.same_formula  # Li1H1, Z = 1, like mp-23703
    assert result.same_ratio_ids == ("mp-23703",)


def test_unknown_composition_is_new_in_every_way(known_hydrides, matcher):
    s = _known(known_hydrides, "mp-24726")
    s.replace_species({"Ti": "Pb"})
    result = assess_novelty(s, s.composition, known_hydrides, matcher)
    assert result.is_novel
    assert not result.same_ratio
    assert not result.same_formula


def test_match_entries_reduce_once(known_hydrides, matcher):
    s = _known(known_hydrides, "mp-23710")  # MgH2, Z = 2
    entry = MatchEntry("x", s)
    assert entry.bucket(matcher) == ("MgH2", 6)
    reduced = entry.reduced
    entry.bucket(matcher)
    assert entry.reduced is reduced


def test_a_doubled_known_cell_is_not_the_same_formula_as_its_reference(
    known_hydrides, matcher
):
    """The issue's case: a 2x1x1 TiH2 supercell is Ti2H4, its reference Ti1H2."""
    s = _known(known_hydrides, "mp-24726")  # TiH2, Z = 1
    s.make_supercell([2, 1, 1])
    result = assess_novelty(s, s.composition, known_hydrides, matcher)
    assert result.formula == "Ti2H4"
    assert result.reference_id == "mp-24726"
    assert result.reference_formula == "Ti1H2"
    assert not result.same_formula
    # another TiH2 polymorph has a Ti2H4 cell: listed, but not the reference
    assert result.same_formula_ids == ("mp-1077353",)


def test_the_papers_same_formula_against_one_mp_id(matcher):
    """The paper: Ti1H2 TRUE and Ti2H4 FALSE against mp-1077482 (TiH2, Z = 1)."""
    fluorite = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.45), ["Ti", "H"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    ).get_primitive_structure()
    tetragonal_ti2h4 = fluorite.copy()
    tetragonal_ti2h4.make_supercell([1, 1, 2])
    tetragonal_ti2h4.apply_strain([0.0, 0.0, 0.15])  # another crystal, Ti2H4 cell
    known = known_materials(
        [("mp-1077482", fluorite), ("mp-1077353", tetragonal_ti2h4)]
    )
    generated = fluorite.copy()
    generated.perturb(0.03, seed=1)
    doubled = generated.copy()
    doubled.make_supercell([2, 1, 1])
    ti1h2 = assess_novelty(generated, generated.composition, known, matcher)
    ti2h4 = assess_novelty(doubled, doubled.composition, known, matcher)
    assert (ti1h2.formula, ti1h2.reference_id, ti1h2.same_formula) == (
        "Ti1H2",
        "mp-1077482",
        True,
    )
    assert (ti2h4.formula, ti2h4.reference_id, ti2h4.same_formula) == (
        "Ti2H4",
        "mp-1077482",
        False,
    )
    assert ti1h2.same_ratio
    assert ti2h4.same_ratio


def test_compositions_known_by_ratio_only(known_hydrides, matcher):
    """The offline MP compositions: a ratio, an id, no cell and no crystal."""
    s = _known(known_hydrides, "mp-24726")
    s.replace_species({"Ti": "Zr"})  # ZrH2, Z = 1
    ratio_only = known_compositions([("mp-24286", "ZrH2"), ("mp-24286", "ZrH2")])
    assert len(ratio_only) == 1
    result = assess_novelty(s, s.composition, ratio_only, matcher)
    assert result.same_ratio
    assert result.same_ratio_ids == ("mp-24286",)
    assert result.reference_id == "mp-24286"
    assert result.reference_formula is None
    assert not result.same_formula  # Z unknown: never claimed
    assert result.is_novel  # nothing to match a crystal against
    assert result.same_formula_ids == ()


def test_a_known_cell_wins_over_the_same_id_known_by_ratio(known_hydrides, matcher):
    s = _known(known_hydrides, "mp-24726")
    both = [*known_compositions([("mp-24726", "TiH2")]), *known_hydrides]
    result = assess_novelty(s, s.composition, both, matcher)
    assert result.matched_id == "mp-24726"
    assert result.reference_formula == "Ti1H2"
    assert result.same_formula
