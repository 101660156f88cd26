from datetime import timedelta

import pytest
from pymatgen.core import Structure
from synthetic import synthetic_relaxed

from conftest import store_relaxed
from matforge.builders.candidates import CandidateBuilder, run_builder
from matforge.data.references import ensure_references
from matforge.schemas.common import utcnow
from matforge.schemas.dft import DftTaskDoc
from matforge.stores import upsert_documents
from matforge.stores.queries import ranked_candidates


def _build(factory):
    ensure_references(factory)
    builder = CandidateBuilder.from_factory(factory)
    run_builder(builder)
    return builder.summary


def _verdicts(factory) -> dict[str, dict]:
    docs = factory.store("candidates")._collection.find({}, {"_id": 0})
    return {d["candidate_id"]: d for d in docs}


def _task(verdict: dict, e_form: float, task_id: str, **extra) -> dict:
    structure = Structure.from_dict(verdict["structure"])
    fields = {
        "task_id": task_id,
        "purpose": "candidate",
        "code": "gpaw",
        "code_version": "test",
        "settings_hash": "h",
        "state": "successful",
        "candidate_id": verdict["candidate_id"],
        "relaxed_id": verdict["relaxed_id"],
        "formula": verdict["formula"],
        "reduced_formula": verdict["reduced_formula"],
        "nsites": len(structure),
        "input_structure": structure,
        "structure": structure,
        "relaxed": True,
        "converged": True,
        "energy": -1.0,
        "formation_energy_per_atom": e_form,
    }
    return DftTaskDoc(**(fields | extra)).model_dump()


def _store_tasks(factory, docs) -> None:
    upsert_documents(factory.store("dft_tasks"), docs, "task_id")


@pytest.fixture
def built(factory, shared_data):
    store_relaxed(factory, synthetic_relaxed(shared_data, 40))
    _build(factory)
    return factory


def test_a_dft_task_fills_only_its_candidate(built):
    factory = built
    before = _verdicts(factory)
    ranked = ranked_candidates(factory.store("candidates"), top=3)
    first = before[ranked[0]["candidate_id"]]
    _store_tasks(factory, [_task(first, -0.5, "dft-a")])

    summary = _build(factory)
    assert summary.processed == 0  # nothing judged again
    assert summary.pairs_compared == 0
    assert summary.updated == 1
    after = _verdicts(factory)
    changed = [cid for cid in after if after[cid] != before[cid]]
    assert changed == [first["candidate_id"]]
    doc = after[first["candidate_id"]]
    assert doc["dft_task_id"] == "dft-a"
    assert doc["formation_energy_dft_per_atom"] == -0.5
    predicted = first["formation_energy_per_atom"]
    assert doc["squared_error"] == pytest.approx((predicted + 0.5) ** 2)
    assert (doc["status"], doc["duplicate_of"]) == (
        first["status"],
        first["duplicate_of"],
    )
    assert doc["content_hash"] != first["content_hash"]

    again = _build(factory)
    assert (again.processed, again.updated, again.inserted) == (0, 0, 0)
    table = ranked_candidates(factory.store("candidates"), top=3)
    assert table[0]["formation_energy_dft_per_atom"] == -0.5


def test_the_latest_successful_task_wins_and_failures_are_ignored(built):
    factory = built
    ranked = ranked_candidates(factory.store("candidates"), top=2)
    verdict = _verdicts(factory)[ranked[1]["candidate_id"]]
    now = utcnow()
    _store_tasks(
        factory,
        [
            _task(verdict, -0.2, "dft-old", last_updated=now - timedelta(days=1)),
            _task(verdict, -0.3, "dft-new", last_updated=now),
            _task(
                verdict,
                -9.0,
                "dft-failed",
                state="failed",
                error="SCF did not converge",
                last_updated=now + timedelta(days=1),
            ),
            _task(verdict, -7.0, "dft-ref", purpose="reference", element="H"),
        ],
    )
    _build(factory)
    doc = _verdicts(factory)[verdict["candidate_id"]]
    assert (doc["dft_task_id"], doc["formation_energy_dft_per_atom"]) == (
        "dft-new",
        -0.3,
    )


def test_a_rejudged_candidate_keeps_its_dft_value(built, shared_data):
    factory = built
    ranked = ranked_candidates(factory.store("candidates"), top=1)
    verdict = _verdicts(factory)[ranked[0]["candidate_id"]]
    _store_tasks(factory, [_task(verdict, -0.4, "dft-b")])
    _build(factory)

    # other candidate settings re-judge every relaxed document
    builder = CandidateBuilder.from_factory(factory)
    other = CandidateBuilder(
        builder.relaxed,
        builder.candidates,
        builder.known,
        builder.settings | {"stol": 0.25},
        dft_tasks=factory.store("dft_tasks"),
    )
    run_builder(other)
    assert other.summary.processed == 40
    doc = _verdicts(factory)[verdict["candidate_id"]]
    assert doc["formation_energy_dft_per_atom"] == -0.4
    assert doc["squared_error"] is not None


def test_an_invalid_verdict_is_restamped_too(built):
    factory = built
    invalid = next(
        d
        for d in _verdicts(factory).values()
        if d["status"] == "invalid" and d["structure"] is not None
    )
    _store_tasks(factory, [_task(invalid, 0.3, "dft-c")])
    summary = _build(factory)
    assert (summary.processed, summary.updated) == (0, 1)
    doc = _verdicts(factory)[invalid["candidate_id"]]
    assert doc["status"] == "invalid"
    assert doc["formation_energy_dft_per_atom"] == 0.3
