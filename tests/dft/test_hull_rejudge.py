"""Judging a campaign again when the phases of its hulls change."""

import json

import pytest
from click.testing import CliRunner
from dft_helpers import RUN_ID, candidates_store, record_candidates_stage
from pymatgen.core import Composition

from matforge.cli import cli
from matforge.errors import MatforgeError
from matforge.flows.candidates import rejudge_campaign
from matforge.schemas.phase import PhaseDoc
from matforge.stores import upsert_documents
from matforge.stores.runs import stage_record


@pytest.fixture
def candidates_factory(shared_data, tmp_path):
    with candidates_store(shared_data, tmp_path) as factory:
        yield factory


def _mgh2(factory) -> dict:
    return factory.store("relaxed").query_one({"reduced_formula": "MgH2"})


def test_a_new_phase_moves_the_crystals_it_competes_with(candidates_factory):
    factory = candidates_factory
    record_candidates_stage(factory, {})
    assert _mgh2(factory)["e_above_hull"] is None  # the seeds came without one
    first = rejudge_campaign(factory, RUN_ID, price=False)
    assert first["judged"] == 3
    assert first["changed"] == 3
    assert first["sun_before"] is None
    assert stage_record(factory, RUN_ID, "candidates")["output"]["sun"]["total"] == 3
    before = _mgh2(factory)["e_above_hull"]
    assert before is not None
    assert rejudge_campaign(factory, RUN_ID, price=False)["changed"] == 0

    # a priced phase of MgH2's system 0.5 eV/atom below the seed's energy
    phase = PhaseDoc.from_mp2020(
        "mp-test-mg2h4", Composition("Mg2H4"), -0.7, "ml-potential"
    )
    upsert_documents(factory.store("computed_phases"), [phase.model_dump()], "phase_id")
    again = rejudge_campaign(factory, RUN_ID, price=False)
    assert again["changed"] == 1
    moved = _mgh2(factory)
    # now the lowest phase of its composition: E_form - (-0.7)
    assert moved["e_above_hull"] == pytest.approx(
        moved["formation_energy_per_atom"] + 0.7
    )
    assert moved["e_above_hull"] > before + 0.3
    assert [d["id"] for d in moved["decomposition"]] == ["mp-test-mg2h4"]
    candidate = factory.store("candidates").query_one(
        {"candidate_id": moved["relaxed_id"]}
    )
    assert candidate["e_above_hull"] == pytest.approx(moved["e_above_hull"])
    assert not candidate["is_stable"]

    with pytest.raises(MatforgeError, match="no relaxed crystals"):
        rejudge_campaign(factory, "no-such-run", price=False)


def test_build_hull_command(candidates_factory, monkeypatch):
    factory = candidates_factory
    monkeypatch.setenv(
        "MATFORGE_STORE__URI", factory.settings.store.uri.get_secret_value()
    )
    references = factory.settings.candidates.references_file
    monkeypatch.setenv("MATFORGE_CANDIDATES__REFERENCES_FILE", references)
    runner = CliRunner()
    none = runner.invoke(cli, ["build", "hull", "--no-pricing"])
    assert none.exit_code != 0
    assert "no campaign" in none.output
    result = runner.invoke(
        cli, ["build", "hull", "--run", RUN_ID, "--no-pricing", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["judged"] == 3
    assert payload["priced"] == []
