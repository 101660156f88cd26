"""The validation stage with a fake DFT code: caching, resuming, the table."""

import json

import pytest
from click.testing import CliRunner
from dft_helpers import (
    FAKE_E_FORM,
    SEEDS,
    FakeDft,
    candidates_store,
    record_candidates_stage,
    validate_and_join,
)

from matforge.builders.candidates import build_candidates
from matforge.cli import cli
from matforge.dft.availability import DftError
from matforge.errors import MatforgeError, StageUnavailableError
from matforge.flows.dft import (
    ChosenCrystals,
    DFTValidationMaker,
    SunSample,
    dft_stage,
    validate_candidates,
)
from matforge.stores.queries import ranked_candidates

H_CORRECTION = -0.179  # MP2020, eV per H in a hydride


def _expected(formula: str) -> float:
    from pymatgen.core import Composition

    comp = Composition(formula)
    return FAKE_E_FORM + H_CORRECTION * comp["H"] / comp.num_atoms


def _tasks(factory, **criteria) -> list[dict]:
    return list(factory.store("dft_tasks").query(criteria))


@pytest.fixture
def candidates_factory(shared_data, tmp_path):
    with candidates_store(shared_data, tmp_path) as factory:
        yield factory


def test_validation_fills_the_candidates_table(candidates_factory):
    factory = candidates_factory
    fake = FakeDft()
    summary = validate_and_join(factory, top=2, runner=fake)

    # references first (H as MP's H2 solid with its cell kept), then 2 candidates
    refs = [c for c in fake.calls if len(c.structure.composition.elements) == 1]
    assert {c.structure.composition.reduced_formula for c in refs} >= {"H2"}
    h2 = next(c for c in refs if c.structure.composition.reduced_formula == "H2")
    assert (h2.relax, h2.relax_cell, h2.molecule) == (True, False, False)
    assert len(fake.calls) - len(refs) == 2
    assert [r.status for r in summary.rows] == ["computed", "computed"]

    table = ranked_candidates(factory.store("candidates"), top=3)
    for row, line in zip(table[:2], summary.rows, strict=True):
        assert row["candidate_id"] == line.candidate_id
        assert row["formation_energy_dft_per_atom"] == pytest.approx(
            _expected(row["formula"])
        )
        assert row["squared_error"] == pytest.approx(
            (row["formation_energy_per_atom"] - row["formation_energy_dft_per_atom"])
            ** 2
        )
        assert row["dft_task_id"] == line.task_id
    assert table[2]["formation_energy_dft_per_atom"] is None

    tasks = _tasks(factory, purpose="candidate")
    assert len(tasks) == 2
    assert all(t["state"] == "successful" and t["references"] for t in tasks)
    assert {t["predicted_formation_energy_per_atom"] for t in tasks} <= set(
        SEEDS.values()
    )


def test_a_second_run_computes_only_what_is_new(candidates_factory):
    factory = candidates_factory
    validate_and_join(factory, top=2, runner=FakeDft())
    again = FakeDft()
    summary = validate_and_join(factory, top=2, runner=again)
    assert again.calls == []
    assert [r.status for r in summary.rows] == ["cached", "cached"]
    assert all(r.formation_energy_dft_per_atom is not None for r in summary.rows)

    more = FakeDft()
    summary = validate_and_join(factory, top=3, runner=more)
    # the third candidate only; its elements' references are cached unless new
    compounds = [c for c in more.calls if len(c.structure.composition.elements) > 1]
    assert len(compounds) == 1
    assert [r.status for r in summary.rows] == ["cached", "cached", "computed"]
    assert len(_tasks(factory, purpose="candidate")) == 3


def test_failures_are_stored_and_retried(candidates_factory):
    factory = candidates_factory
    table = ranked_candidates(factory.store("candidates"), top=3)
    bad = table[0]["formula"]
    from pymatgen.core import Composition

    reduced = Composition(bad).reduced_formula
    summary = validate_and_join(factory, top=3, runner=FakeDft(fail={reduced}))
    assert summary.rows[0].status == "failed"
    assert summary.rows[0].error == "SCF diverged"
    assert summary.failed == 1
    failed = _tasks(factory, state="failed")
    assert len(failed) == 1
    row = ranked_candidates(factory.store("candidates"), top=1)[0]
    assert row["formation_energy_dft_per_atom"] is None

    retry = FakeDft()
    summary = validate_and_join(factory, top=3, runner=retry)
    assert len(retry.calls) == 1
    assert summary.rows[0].status == "computed"
    assert _tasks(factory, state="failed") == []


def test_a_failed_reference_fails_its_candidates_only(candidates_factory):
    factory = candidates_factory
    summary = validate_and_join(factory, top=3, runner=FakeDft(fail={"Ti"}))
    by_formula = {r.formula: r for r in summary.rows}
    ti = next(r for f, r in by_formula.items() if "Ti" in f)
    assert ti.status == "failed"
    assert "no reference energy for Ti" in ti.error
    assert sum(r.status == "computed" for r in summary.rows) == 2
    assert "Ti" not in summary.references


def test_other_settings_are_other_tasks(candidates_factory, monkeypatch):
    factory = candidates_factory
    validate_and_join(factory, top=1, runner=FakeDft())
    factory.settings.dft.ecut = 500.0
    other = FakeDft()
    validate_and_join(factory, top=1, runner=other)
    assert len(other.calls) > 1  # references again, and the candidate
    hashes = {t["settings_hash"] for t in _tasks(factory, purpose="candidate")}
    assert len(hashes) == 2


def test_vasp_is_not_run_here(candidates_factory):
    with pytest.raises(DftError, match="VASP does not run here"):
        validate_candidates(candidates_factory, code="vasp", runner=FakeDft())


def test_the_maker_is_a_jobflow_stage():
    maker = DFTValidationMaker(run_id="r1")
    job = maker.make({"output": {"top_ids": ["a"]}})
    assert job.name == "dft validation"
    assert maker.run_id == "r1"


def test_the_flow_stage_validates_the_campaigns_own_ranking(
    candidates_factory, monkeypatch
):
    factory = candidates_factory
    store = factory.store("candidates")
    table = ranked_candidates(store, top=3)
    # the campaign r1 made only the collection's third candidate; r0 the others
    for row in table[:2]:
        doc = store.query_one({"candidate_id": row["candidate_id"]})
        doc.pop("_id")
        store.update([doc | {"run_id": "r0"}], key="candidate_id")
    ids = [table[2]["candidate_id"]]
    fake = FakeDft()
    monkeypatch.setattr("matforge.flows.dft.gpaw_runner", lambda *_: fake)
    factory.settings.dft.top_k = 1
    out = dft_stage(factory, factory.settings, "r1", {"top_ids": ids})
    assert out["validated"] == [ids[0]]
    assert out["computed"] == 1
    assert out["failed"] == 0
    build_candidates(factory)  # the flow's job after the stage
    row = next(
        r
        for r in ranked_candidates(factory.store("candidates"), top=3)
        if r["candidate_id"] == ids[0]
    )
    assert row["formation_energy_dft_per_atom"] == pytest.approx(
        _expected(row["formula"])
    )


def test_the_flow_stage_says_when_gpaw_is_missing(candidates_factory, monkeypatch):
    def missing():
        raise DftError("GPAW is not installed: install the DFT extra")

    monkeypatch.setattr("matforge.flows.dft.require_gpaw", missing)
    factory = candidates_factory
    top = ranked_candidates(factory.store("candidates"), top=1)[0]["candidate_id"]
    with pytest.raises(StageUnavailableError, match="GPAW is not installed"):
        dft_stage(factory, factory.settings, "r1", {"top_ids": [top]})


def test_validate_command_with_a_fake_code(candidates_factory, monkeypatch):
    factory = candidates_factory
    fake = FakeDft()
    monkeypatch.setattr("matforge.flows.dft.gpaw_runner", lambda *_: fake)
    monkeypatch.setenv(
        "MATFORGE_STORE__URI", factory.settings.store.uri.get_secret_value()
    )
    references = factory.settings.candidates.references_file
    monkeypatch.setenv("MATFORGE_CANDIDATES__REFERENCES_FILE", references)
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "--top", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "E_form DFT" in result.output
    assert "computed" in result.output
    again = runner.invoke(cli, ["validate", "--top", "3", "--json"])
    payload = json.loads(again.stdout)
    assert [r["status"] for r in payload["rows"]] == ["cached"] * 3
    errors = [
        abs(r["formation_energy_per_atom"] - r["formation_energy_dft_per_atom"])
        for r in payload["rows"]
    ]
    assert payload["mae"] == pytest.approx(sum(errors) / 3)
    assert payload["mae"] > 0
    assert f"over 3: {payload['mae']:.4f} eV/atom" in result.output
    table = runner.invoke(cli, ["candidates", "--top", "3"]).output.splitlines()
    assert "E_form DFT" in table[0]
    rows = json.loads(runner.invoke(cli, ["candidates", "--json"]).output)
    assert all(r["squared_error"] is not None for r in rows[:3])
    bad = runner.invoke(cli, ["validate", "--submit"])
    assert bad.exit_code != 0
    assert "VASP's" in bad.output


def test_without_gpaw_the_command_says_what_to_install(candidates_factory, monkeypatch):
    monkeypatch.setattr("matforge.dft.availability.gpaw_available", lambda: False)
    uri = candidates_factory.settings.store.uri.get_secret_value()
    monkeypatch.setenv("MATFORGE_STORE__URI", uri)
    result = CliRunner().invoke(cli, ["validate", "--top", "1"])
    assert result.exit_code == 1
    assert "GPAW is not installed" in result.output
    assert "./install.sh" in result.output


def _record_sun(factory, ids) -> None:
    output = {"sun": {"sun_ids": list(ids)}} if ids is not None else {}
    record_candidates_stage(factory, output)


def test_a_seeded_draw_from_the_sun_set(candidates_factory):
    import random

    factory = candidates_factory
    with pytest.raises(MatforgeError, match="no campaign in this store"):
        validate_candidates(factory, runner=FakeDft(), sample=SunSample(2))
    _record_sun(factory, None)
    with pytest.raises(MatforgeError, match=r"r1 has no S\.U\.N\. figures"):
        validate_candidates(factory, runner=FakeDft(), sample=SunSample(2))

    ids = sorted(d["candidate_id"] for d in factory.store("candidates").query({}))
    # a S.U.N. crystal need not be a ranked candidate (validity is no S.U.N. filter)
    factory.store("candidates")._collection.update_one(
        {"candidate_id": ids[0]}, {"$set": {"status": "invalid"}}
    )
    _record_sun(factory, ids)
    summary = validate_and_join(factory, runner=FakeDft(), sample=SunSample(2, 7))
    drawn = random.Random(7).sample(ids, 2)
    assert [r.candidate_id for r in summary.rows] == drawn
    assert [r.rank for r in summary.rows] == [1, 2]
    assert all(r.status == "computed" for r in summary.rows)
    assert all(r.e_above_hull_dft is not None for r in summary.rows)

    again = FakeDft()
    summary = validate_and_join(factory, runner=again, sample=SunSample(2, 7))
    assert [r.candidate_id for r in summary.rows] == drawn
    assert again.calls == []

    everything = validate_and_join(factory, runner=FakeDft(), sample=SunSample(9))
    assert sorted(r.candidate_id for r in everything.rows) == ids

    _record_sun(factory, ["nowhere"])
    with pytest.raises(MatforgeError, match=r"without a candidates document: nowhere"):
        validate_candidates(factory, runner=FakeDft(), sample=SunSample(1))


def test_validate_sun_command(candidates_factory, monkeypatch):
    factory = candidates_factory
    monkeypatch.setattr("matforge.flows.dft.gpaw_runner", lambda *_: FakeDft())
    monkeypatch.setenv(
        "MATFORGE_STORE__URI", factory.settings.store.uri.get_secret_value()
    )
    references = factory.settings.candidates.references_file
    monkeypatch.setenv("MATFORGE_CANDIDATES__REFERENCES_FILE", references)
    ids = [d["candidate_id"] for d in factory.store("candidates").query({})]
    _record_sun(factory, ids)
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "--sun", "2", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    kept = sum(r["e_above_hull_dft"] <= 0.1 for r in rows)
    text = runner.invoke(cli, ["validate", "--sun", "2", "--seed", "1"]).output
    assert text.splitlines()[1].split()[0] == "draw"
    assert f"DFT keeps {kept} of 2 S.U.N. crystals within 0.1 eV/atom" in text
    for bad in (
        ["--sun", "2", "--top", "1"],
        ["--sun", "1", "--novel"],
        ["--run", "x"],
    ):
        wrong = runner.invoke(cli, ["validate", *bad])
        assert wrong.exit_code != 0
        assert "--sun" in wrong.output


def test_chosen_crystals_are_validated_whatever_their_status(
    candidates_factory, monkeypatch
):
    factory = candidates_factory
    ids = sorted(d["candidate_id"] for d in factory.store("candidates").query({}))
    factory.store("candidates")._collection.update_one(
        {"candidate_id": ids[1]}, {"$set": {"status": "invalid"}}
    )
    chosen = ChosenCrystals((ids[1], ids[0]))
    summary = validate_and_join(factory, runner=FakeDft(), sample=chosen)
    assert [(r.rank, r.candidate_id) for r in summary.rows] == [
        (1, ids[1]),
        (2, ids[0]),
    ]
    assert all(r.status == "computed" for r in summary.rows)
    with pytest.raises(MatforgeError, match="no candidates document for: nowhere"):
        validate_candidates(
            factory, runner=FakeDft(), sample=ChosenCrystals((ids[0], "nowhere"))
        )

    monkeypatch.setattr("matforge.flows.dft.gpaw_runner", lambda *_: FakeDft())
    monkeypatch.setenv(
        "MATFORGE_STORE__URI", factory.settings.store.uri.get_secret_value()
    )
    references = factory.settings.candidates.references_file
    monkeypatch.setenv("MATFORGE_CANDIDATES__REFERENCES_FILE", references)
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "--id", ids[1], "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [(r["candidate_id"], r["status"]) for r in rows] == [(ids[1], "cached")]
    text = runner.invoke(cli, ["validate", "--id", ids[2]]).stdout
    assert text.splitlines()[1].split()[0] == "rank"
    assert "S.U.N." not in text
    for bad in (["--top", "1"], ["--novel"], ["--sun", "1"]):
        wrong = runner.invoke(cli, ["validate", "--id", ids[0], *bad])
        assert wrong.exit_code != 0
        assert "--id names the crystals" in wrong.output
