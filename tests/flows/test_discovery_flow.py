"""The discovery flow: its shape, stage records and resume, the optional stages."""

from __future__ import annotations

import pytest

from matforge.flows.discovery import (
    DiscoveryFlowMaker,
    campaign_run_id,
    job_uuid,
    quick_overrides,
)
from matforge.flows.stage import job_settings, run_stage
from matforge.settings import LOCATION_FIELDS, load_settings
from matforge.stores.runs import run_records


def test_flow_has_one_job_per_stage_with_fixed_ids():
    flow = DiscoveryFlowMaker(run_id="r1").make()
    names = [j.name for j in flow.jobs]
    assert names == [
        "ingest",
        "features and score",
        "causal discovery",
        "train generator",
        "generate",
        "relax",
        "build candidates",
        "report",
    ]
    assert flow.jobs[0].uuid == job_uuid("r1", "ingest")
    # each job takes the output of the one before it
    assert flow.jobs[1].function_args[0].uuid == flow.jobs[0].uuid
    again = DiscoveryFlowMaker(run_id="r1").make()
    assert [j.uuid for j in again.jobs] == [j.uuid for j in flow.jobs]


def test_dft_stage_is_added_only_when_enabled():
    flow = DiscoveryFlowMaker(run_id="r1", dft_validation=True).make()
    # the candidates are rebuilt after DFT, as a job of their own
    assert [j.name for j in flow.jobs][-3:] == [
        "dft validation",
        "rejudge candidates",
        "report",
    ]
    assert load_settings().run.dft_validation is False


def test_run_id_follows_the_settings():
    settings = load_settings()
    quick = quick_overrides(settings)
    assert campaign_run_id(settings, quick) == campaign_run_id(load_settings(), quick)
    assert campaign_run_id(settings, quick) != campaign_run_id(settings, {})
    other = load_settings(run={"seed": 3})
    assert campaign_run_id(other, {}) != campaign_run_id(settings, {})
    assert campaign_run_id(load_settings(run={"run_id": "mine"}), {}) == "mine"


def test_stage_runs_once_per_hash(memory_factory):
    calls = []

    def work():
        calls.append(1)
        return {"n": len(calls)}

    first = run_stage(memory_factory, "r", "ingest", {"a": 1}, None, work)
    second = run_stage(memory_factory, "r", "ingest", {"a": 1}, None, work)
    assert calls == [1]
    assert second["skipped"]
    assert second["output"] == first["output"] == {"n": 1}
    third = run_stage(memory_factory, "r", "ingest", {"a": 2}, None, work)
    assert not third["skipped"]
    assert third["output"] == {"n": 2}
    down = run_stage(memory_factory, "r", "features", {}, third, work)
    assert not down["skipped"]
    records = run_records(memory_factory, "r")
    assert [r["stage"] for r in records] == ["ingest", "features"]
    assert all(r["status"] == "done" for r in records)


def test_interrupted_stage_runs_again(memory_factory):
    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(memory_factory, "r", "train", {}, None, boom)
    assert run_records(memory_factory, "r")[0]["status"] == "started"
    again = run_stage(memory_factory, "r", "train", {}, None, lambda: {"ok": True})
    assert not again["skipped"]


def test_jobs_carry_the_science_settings_and_no_secret(tmp_path):
    settings = load_settings(
        home=tmp_path / "home",
        store={"uri": "mongodb://user:s3cret@db.example.org/", "password": "pw"},
        mp_api_key="key-123",
        ml={"epochs": 7},
    )
    carried = job_settings(settings)
    assert carried["ml"]["epochs"] == 7
    assert not set(LOCATION_FIELDS) & set(carried)
    flow = DiscoveryFlowMaker(run_id="r1", settings=carried).make()
    text = str([job.as_dict() for job in flow.jobs])
    for secret in ("s3cret", "pw'", "key-123", "db.example.org", str(tmp_path)):
        assert secret not in text
    assert flow.jobs[3].maker.settings["ml"]["epochs"] == 7
