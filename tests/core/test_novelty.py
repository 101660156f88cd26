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
