import json
import stat

import pytest
import yaml
from click.testing import CliRunner
from jobflow import JobStore
from monty.serialization import loadfn

from matforge.cli import cli
from matforge.errors import ConfigError
from matforge.launchpad.config import MOCK_URI, launchpad_files, launchpad_uri
from matforge.settings import load_settings


def test_files_for_a_mongodb_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MATFORGE_STORE__URI", "mongodb://db.example.org:27017")
    monkeypatch.setenv("MATFORGE_STORE__USERNAME", "alice")
    monkeypatch.setenv("MATFORGE_STORE__PASSWORD", "wonder land")
    monkeypatch.setenv("MATFORGE_LAUNCHPAD__QUEUE", "short")
    settings = load_settings()
    files = launchpad_files(settings, tmp_path, {"@class": "JobStore"})
    lp = files["my_launchpad.yaml"]
    assert lp["uri_mode"] is True
    assert lp["host"] == "mongodb://alice:wonder%20land@db.example.org:27017"
    assert lp["name"] == "matforge_fireworks"
    slurm = files["my_qadapter_slurm.yaml"]
    assert slurm["_fw_q_type"] == "SLURM"
    assert slurm["queue"] == "short"
    assert slurm["ntasks"] == 16
    assert (
        f"MATFORGE_CONFIG_FILE={tmp_path.resolve() / 'matforge.yaml'}"
        in (slurm["pre_rocket"])
    )
    assert "singleshot" in slurm["rocket_launch"]
    assert files["my_qadapter_pbs.yaml"]["_fw_q_type"] == "PBS"
    assert files["my_qadapter.yaml"] == slurm
    assert files["matforge.yaml"]["store"]["password"] == "wonder land"


def test_no_mongodb_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("MONGOMOCK_SERVERSTORE_FILE", raising=False)
    with pytest.raises(ConfigError, match="FireWorks needs MongoDB"):
        launchpad_uri(load_settings())
    monkeypatch.setenv("MONGOMOCK_SERVERSTORE_FILE", "/tmp/x.json")
    assert launchpad_uri(load_settings()) == MOCK_URI


def test_cli_writes_private_files_that_load(tmp_path, monkeypatch):
    monkeypatch.setenv("MONGOMOCK_SERVERSTORE_FILE", str(tmp_path / "mock.json"))
    monkeypatch.setenv("MATFORGE_MP_API_KEY", "k" * 32)
    folder = tmp_path / "fw"
    result = CliRunner().invoke(cli, ["launchpad", "init", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "k" * 32 not in result.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [
            "jobflow.yaml",
            "matforge.yaml",
            "my_fworker.yaml",
            "my_launchpad.yaml",
            "my_qadapter.yaml",
            "my_qadapter_pbs.yaml",
            "my_qadapter_slurm.yaml",
        ]
    )
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    # the worker reads the same settings and jobflow finds matforge's job store
    worker = load_settings(folder / "matforge.yaml")
    assert worker.home == load_settings().home.expanduser()
    assert worker.mp_api_key.get_secret_value() == "k" * 32
    store = loadfn(folder / "jobflow.yaml")["JOB_STORE"]
    assert isinstance(store, JobStore)
    assert set(store.additional_stores) == {"data"}
    assert yaml.safe_load((folder / "my_fworker.yaml").read_text())["name"] == (
        "matforge-worker"
    )
    again = CliRunner().invoke(
        cli, ["launchpad", "init", "--dir", str(folder), "--json"]
    )
    assert len(json.loads(again.output)["written"]) == 7
