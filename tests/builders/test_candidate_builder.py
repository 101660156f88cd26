import logging
import uuid
from collections import Counter

import pytest
from pymatgen.core import Structure
from pymatgen.core.operations import SymmOp
from synthetic import POTENTIAL, synthetic_relaxed

from conftest import hydride_references, store_relaxed
from matforge.builders.candidates import (
    CandidateBuilder,
    build_candidates,
    run_builder,
)
from matforge.data.references import ensure_references
from matforge.schemas.reference import ReferenceDoc
from matforge.schemas.relaxed import RelaxedDoc
from matforge.settings import load_settings
from matforge.stores import StoreFactory, upsert_documents
from matforge.stores.queries import ranked_candidates


def _verdicts(factory) -> dict[str, dict]:
    docs = factory.store("candidates")._collection.find({}, {"_id": 0})
    return {d["candidate_id"]: d for d in docs}


def _grouping(verdicts) -> dict[str, tuple]:
    return {
        cid: (d["status"], d["duplicate_of"], d["matched_id"])
        for cid, d in verdicts.items()
    }


def _build(factory):
    ensure_references(factory)
    return build_candidates(factory)


def test_build_judges_every_relaxation_and_a_rerun_changes_nothing(
    factory, shared_data
):
    docs = synthetic_relaxed(shared_data, 120)
    store_relaxed(factory, docs)
    summary = _build(factory)
    assert summary.processed == 120
    assert summary.inserted == 120
    verdicts = _verdicts(factory)
    assert set(verdicts) == {d.relaxed_id for d in docs}

    statuses = Counter(d["status"] for d in verdicts.values())
    assert statuses["candidate"] > 10
    assert statuses["duplicate"] > 10
    assert statuses["invalid"] > 0
    for doc in docs:
        verdict = verdicts[doc.relaxed_id]
        if doc.failed:
            assert verdict["status"] == "invalid"
            assert "relaxation failed" in verdict["reasons"][0]
        elif not doc.converged:
            assert "the relaxation did not converge" in verdict["reasons"]
    for verdict in verdicts.values():
        if verdict["status"] == "duplicate":
            rep = verdicts[verdict["duplicate_of"]]
            assert rep["status"] == "candidate"
            assert rep["reduced_formula"] == verdict["reduced_formula"]
            # the earliest relaxation represents the group
            assert (rep["relaxed_last_updated"], rep["candidate_id"]) <= (
                verdict["relaxed_last_updated"],
                verdict["candidate_id"],
            )
        elif verdict["status"] == "invalid":
            assert verdict["reasons"]
        else:
            assert verdict["reasons"] == []
            assert verdict["storage_score"] is not None
            assert verdict["build"]["settings"]["candidates"]["stol"] == 0.3

    again = _build(factory)
    assert (again.processed, again.groups, again.inserted, again.updated) == (
        0,
        0,
        0,
        0,
    )
    assert _verdicts(factory) == verdicts


def test_new_relaxations_are_the_only_work_and_agree_with_a_full_build(
    factory, shared_data, references_file
):
    first = synthetic_relaxed(shared_data, 90)
    more = synthetic_relaxed(shared_data, 30, seed=1, start=90)
    store_relaxed(factory, first)
    _build(factory)
    before = _verdicts(factory)
    store_relaxed(factory, more)
    summary = _build(factory)
    assert summary.processed == 30
    assert summary.inserted == 30
    after = _verdicts(factory)
    changed = [
        cid
        for cid, d in before.items()
        if after[cid]["last_updated"] != d["last_updated"]
    ]
    assert len(changed) <= summary.updated
    assert summary.updated <= 2  # only when a new crystal bridges two groups

    settings = load_settings(
        store={"uri": f"memory://{uuid.uuid4().hex}"},
        candidates={"references_file": str(references_file)},
    )
    with StoreFactory(settings) as scratch:
        store_relaxed(
            scratch,
            [RelaxedDoc.model_validate(d) for d in factory.store("relaxed").query()],
        )
        _build(scratch)
        assert _grouping(_verdicts(scratch)) == _grouping(after)


def test_changed_and_removed_relaxations(factory, shared_data):
    docs = synthetic_relaxed(shared_data, 60)
    store_relaxed(factory, docs)
    _build(factory)
    verdicts = _verdicts(factory)
    group_of = Counter(
        d["duplicate_of"] for d in verdicts.values() if d["status"] == "duplicate"
    )
    rep_id, size = group_of.most_common(1)[0]
    rep = next(d for d in docs if d.relaxed_id == rep_id)

    # the representative is relaxed again, now too unstable: its group is redone
    worse = rep.model_copy(
        update={"formation_energy_per_atom": 0.5, "content_hash": "changed"}
    )
    worse.last_updated = worse.last_updated.replace(year=worse.last_updated.year + 1)
    store_relaxed(factory, [worse])
    summary = _build(factory)
    assert summary.processed == size + 1
    after = _verdicts(factory)
    assert after[rep_id]["status"] == "invalid"
    assert "formation energy 0.500" in after[rep_id]["reasons"][0]
    members = [cid for cid, d in verdicts.items() if d["duplicate_of"] == rep_id]
    new_rep = {after[cid]["duplicate_of"] or cid for cid in members}
    assert len(new_rep) == 1
    assert after[new_rep.pop()]["status"] == "candidate"

    # a relaxation removed from `relaxed` loses its verdict
    gone = members[0]
    factory.store("relaxed").remove_docs({"relaxed_id": gone})
    summary = _build(factory)
    assert summary.removed == 1
    assert gone not in _verdicts(factory)


def _relaxed_from(structure: Structure, generated_id: str, e_form: float) -> RelaxedDoc:
    """TEST DATA: a relaxed document around a given crystal, made-up energies."""
    initial = structure.copy()
    initial.perturb(0.05, min_distance=0.0, seed=1)
    return RelaxedDoc.from_relaxation(
        generated_id=generated_id,
        initial_structure=initial,
        structure=structure,
        potential=POTENTIAL,
        converged=True,
        formation_energy_per_atom=e_form,
        e_above_hull=0.0,
    )


def test_known_crystals_are_matched_to_their_ids(factory, shared_data):
    refs = {
        r["material_id"]: Structure.from_dict(r["structure"])
        for r in hydride_references(shared_data)
    }
    rotated = refs["mp-24726"].copy()  # TiH2, Z = 1
    op = SymmOp.from_axis_angle_and_translation([0, 1, 1], 50)
    rotated = Structure(
        op.operate_multi(rotated.lattice.matrix), rotated.species, rotated.frac_coords
    )
    rotated.perturb(0.04, min_distance=0.0, seed=2)
    supercell = refs["mp-23703"].copy()  # LiH, Z = 1
    supercell.make_supercell([2, 1, 1])
    novel = refs["mp-23703"].copy()
    novel.replace_species({"Li": "Na"})
    novel.make_supercell([1, 1, 3])
    novel.perturb(0.5, min_distance=0.4, seed=3)
    docs = [
        _relaxed_from(rotated, "gen-ti", -0.4),
        _relaxed_from(supercell, "gen-li", -0.3),
        _relaxed_from(novel, "gen-na", -0.2),
    ]
    store_relaxed(factory, docs)
    _build(factory)
    verdicts = {d["generated_id"]: d for d in _verdicts(factory).values()}
    ti, li, na = verdicts["gen-ti"], verdicts["gen-li"], verdicts["gen-na"]
    assert (ti["matched_id"], ti["same_formula"], ti["same_ratio"]) == (
        "mp-24726",
        True,
        True,
    )
    assert not ti["is_novel"]
    assert (li["formula"], li["matched_id"]) == ("Li2H2", "mp-23703")
    assert (li["same_formula"], li["same_ratio"]) == (False, True)
    assert na["same_ratio"]  # NaH is known ...
    assert na["is_novel"]  # ... but not as this rattled crystal
    assert na["known_ids_same_ratio"] == ["mp-23870"]

    # a new known material re-judges its formula only
    upsert_documents(
        factory.store("references"),
        [ReferenceDoc.from_structure("mp-999", novel, "test").model_dump()],
        "material_id",
    )
    summary = build_candidates(factory)
    assert summary.processed == 1
    na = next(d for d in _verdicts(factory).values() if d["generated_id"] == "gen-na")
    assert na["matched_id"] == "mp-999"
    assert not na["is_novel"]


def test_other_settings_rejudge_everything(factory, shared_data):
    store_relaxed(factory, synthetic_relaxed(shared_data, 20))
    _build(factory)
    builder = CandidateBuilder.from_factory(factory)
    moved = builder.settings | {"references_file": "/elsewhere/refs.json.gz"}
    same = CandidateBuilder(builder.relaxed, builder.candidates, builder.known, moved)
    run_builder(same)
    assert same.summary.processed == 0  # where the references come from is no verdict
    settings = factory.settings.candidates.model_dump() | {"max_e_above_hull": 0.01}
    builder = CandidateBuilder(
        builder.relaxed,
        builder.candidates,
        builder.known,
        settings=settings,
        score=builder.score,
        symprec=builder.symprec,
    )
    run_builder(builder)
    assert builder.summary.processed == 20
    reasons = [r for d in _verdicts(factory).values() for r in d["reasons"]]
    assert any("above the 0.01 allowed" in r for r in reasons)


class _NoDatabase:
    def __getattr__(self, name):
        raise AssertionError(f"process_item touched the database ({name})")


def test_process_item_is_pure(factory, shared_data):
    store_relaxed(factory, synthetic_relaxed(shared_data, 15))
    ensure_references(factory)
    builder = CandidateBuilder.from_factory(factory)
    items = list(builder.get_items())
    builder.relaxed = builder.candidates = _NoDatabase()
    builder.known = [_NoDatabase()]
    results = [builder.process_item(item) for item in items]
    assert sum(r["processed"] for r in results) == 15


def test_ranking_and_maggma_run(factory, shared_data):
    store_relaxed(factory, synthetic_relaxed(shared_data, 40))
    ensure_references(factory)
    builder = CandidateBuilder.from_factory(factory)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        builder.run()  # maggma's own serial runner works too
    finally:  # Builder.run sets up the root logger; put it back
        root.setLevel(level)
        root.handlers[:] = handlers
    assert builder.summary.processed == 40
    rows = ranked_candidates(factory.store("candidates"))
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    scores = [r["storage_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    novel = ranked_candidates(factory.store("candidates"), top=3, novel_only=True)
    assert len(novel) <= 3
    assert all(r["is_novel"] for r in novel)
    assert {r["rank"] for r in novel} <= {r["rank"] for r in rows}


def test_builder_serialises_with_its_settings(factory):
    builder = CandidateBuilder.from_factory(factory)
    as_dict = builder.as_dict()
    assert as_dict["settings"]["stol"] == pytest.approx(0.3)
    assert as_dict["score"]["sigma"] == pytest.approx(0.241)
