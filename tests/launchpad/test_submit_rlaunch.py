"""FireWorks end to end: submit the quick campaign, rlaunch it, find candidates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))
from campaign import SHARED, campaign_env, run
from matforge.settings import load_settings
from matforge.stores import StoreFactory

pytestmark = pytest.mark.slow


def test_submit_then_rapidfire_fills_the_store(tmp_path: Path):
    if not SHARED.is_dir():
        pytest.skip("offline data folder not found")
    mock = tmp_path / "mongomock.json"
    mock.write_text("{}")
    env = campaign_env(tmp_path / "site", MONGOMOCK_SERVERSTORE_FILE=str(mock))
    files = tmp_path / "fw"
    init = run("matforge", "launchpad", "init", "--dir", str(files), env=env)
    assert init.returncode == 0, init.stderr[-3000:]
    # the worker reads the files launchpad init wrote, as its rockets do
    env |= {
        "MATFORGE_CONFIG_FILE": str(files / "matforge.yaml"),
        "JOBFLOW_CONFIG_FILE": str(files / "jobflow.yaml"),
    }
    launchpad = str(files / "my_launchpad.yaml")
    submitted = run(
        "matforge", "submit", "--quick", "--launchpad", launchpad, "--json", env=env
    )
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    result = json.loads(submitted.stdout)
    assert len(result["fw_ids"]) == 8
    work = tmp_path / "launches"
    work.mkdir()
    fired = run(
        "rlaunch",
        "-l",
        launchpad,
        "-w",
        str(files / "my_fworker.yaml"),
        "rapidfire",
        env=env,
        cwd=work,
    )
    assert fired.returncode == 0, fired.stderr[-3000:]
    settings = load_settings(files / "matforge.yaml", home=env["MATFORGE_HOME"])
    with StoreFactory(settings) as factory:
        runs = list(factory.store("runs").query({"run_id": result["run_id"]}))
        assert {r["stage"] for r in runs} >= {"relax", "candidates", "report"}
        assert all(r["status"] == "done" for r in runs)
        candidates = list(factory.store("candidates").query(properties=["run_id"]))
        assert len(candidates) == 6
        assert {c["run_id"] for c in candidates} == {result["run_id"]}
