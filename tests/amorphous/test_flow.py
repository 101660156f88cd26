"""The amorphous flow: its shape, a run with jobflow here, FireWorks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from matforge.flows.amorphous import AmorphousFlowMaker, job_uuid, run_amorphous
from matforge.launchpad.submit import amorphous_workflow
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.amorphous import md_runs


def test_flow_jobs_and_their_order() -> None:
    flow = AmorphousFlowMaker(run_id="r1", compositions=["Li2O", "Li3N"]).make()
    names = [j.name for j in flow.jobs]
    assert names == [
        "amorphous ingest",
        "amorphous train",
        "melt-quench md Li2O",
        "melt-quench md Li3N",
        "amorphous report",
    ]
    ingest = flow.jobs[0]
    assert ingest.uuid == job_uuid("r1", "ingest")
    for job in flow.jobs[1:4]:  # training and MD wait for the table
        assert job.function_args[0].uuid == ingest.uuid
    waits_for = {ref.uuid for ref in flow.jobs[-1].function_args[0]}
    assert waits_for == {j.uuid for j in flow.jobs[1:4]}
    again = AmorphousFlowMaker(run_id="r1", compositions=["Li2O", "Li3N"]).make()
    assert [j.uuid for j in again.jobs] == [j.uuid for j in flow.jobs]
    bare = AmorphousFlowMaker(run_id="r1", train=False, report=False).make()
    assert [j.name for j in bare.jobs] == ["amorphous ingest"]


def test_run_locally_then_resume(
    shared_data: Path, tiny_config: Path, tiny_li_o_model: Path, tmp_path: Path
) -> None:
    settings = load_settings(
        tiny_config, store={"uri": f"memory://{uuid.uuid4().hex}"}, home=tmp_path
    )
    settings.amorphous.models = ["random_forest"]
    settings.amorphous.sisso = False
    first = run_amorphous(settings, ["Li2O"], potential=str(tiny_li_o_model))
    assert first["ingest"]["documents"] == 789
    assert len(first["train"]["model_ids"]) == 2  # D and ln D
    md = first["md"]["Li2O"]
    assert not md["reused"]
    assert md["volume_source"] == "table"
    assert "amorphous_report.md" in first["report"]["files"]
    assert (Path(first["report"]["folder"]) / "amorphous_arrhenius.png").is_file()
    with StoreFactory(settings) as factory:
        (doc,) = md_runs(factory, "Li2O")
        assert doc["md_id"] == md["md_id"]
        ingest_job = {"uuid": job_uuid(first["run_id"], "ingest")}
        assert factory.job_store().count(ingest_job) == 1
    again = run_amorphous(settings, ["Li2O"], potential=str(tiny_li_o_model))
    assert again["run_id"] == first["run_id"]
    assert again["md"]["Li2O"]["reused"]  # the stored run, not a new one
    assert again["ingest"]["unchanged"] == 789
    assert again["train"]["model_ids"] == first["train"]["model_ids"]


def test_fireworks_workflow_carries_no_store_and_keeps_the_order() -> None:
    settings = load_settings(store={"uri": "mongodb://user:secret@db.example:27017"})
    run_id, workflow = amorphous_workflow(settings, ["Li2O"], temperatures=[1500])
    assert run_id.startswith("amorph-run-")
    names = {fw.fw_id: fw.name for fw in workflow.fws}
    assert sorted(names.values()) == [
        "amorphous ingest",
        "amorphous report",
        "amorphous train",
        "melt-quench md Li2O",
    ]
    by_name = {name: fw_id for fw_id, name in names.items()}
    children = {names[k]: {names[c] for c in v} for k, v in workflow.links.items()}
    assert children["amorphous ingest"] == {"amorphous train", "melt-quench md Li2O"}
    assert children["melt-quench md Li2O"] == {"amorphous report"}
    for fw in workflow.fws:
        (task,) = fw.tasks
        assert task.get("store") is None  # the worker's own JOB_STORE
    text = json.dumps(workflow.as_dict(), default=str)
    assert "secret" not in text
    assert by_name["amorphous ingest"] in workflow.root_fw_ids


@pytest.mark.slow
def test_submit_then_rapidfire(
    shared_data: Path, tiny_config: Path, tiny_li_o_model: Path, tmp_path: Path
) -> None:
    mock = tmp_path / "mongomock.json"
    mock.write_text("{}")
    config = yaml.safe_load(tiny_config.read_text())
    config["amorphous"] |= {"models": ["random_forest"], "sisso": False}
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATFORGE_")}
    env |= {
        "MATFORGE_HOME": str(tmp_path / "home"),
        "MATFORGE_CONFIG_FILE": str(site),
        "MATFORGE_SHARED_DATA": str(shared_data),
        "MONGOMOCK_SERVERSTORE_FILE": str(mock),
    }

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*args],
            env=env | extra,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    files = tmp_path / "fw"
    matforge = [sys.executable, "-m", "matforge.cli"]
    run(*matforge, "launchpad", "init", "--dir", str(files))
    env |= {
        "MATFORGE_CONFIG_FILE": str(files / "matforge.yaml"),
        "JOBFLOW_CONFIG_FILE": str(files / "jobflow.yaml"),
    }
    launchpad = str(files / "my_launchpad.yaml")
    submitted = run(
        *matforge,
        "amorphous",
        "submit",
        "Li2O",
        "--potential",
        str(tiny_li_o_model),
        "--launchpad",
        launchpad,
        "--json",
    )
    result = json.loads(submitted.stdout)
    assert len(result["fw_ids"]) == 4
    rlaunch = Path(sys.executable).with_name("rlaunch")
    run(
        str(rlaunch), "-l", launchpad, "-w", str(files / "my_fworker.yaml"), "rapidfire"
    )
    worker = load_settings(files / "matforge.yaml", home=env["MATFORGE_HOME"])
    with StoreFactory(worker) as factory:
        (doc,) = md_runs(factory, "Li2O")
        assert len(doc["fits"]) == 2
        assert factory.store("amorphous_diffusivity").count() == 789
