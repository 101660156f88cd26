"""`matforge run --quick` end to end, killed mid-way and resumed; the report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pymatgen.core import Composition

from campaign import SHARED, campaign_env, command, run
from matforge.settings import load_settings
from matforge.stores import COLLECTIONS, StoreFactory

pytestmark = pytest.mark.slow


def _factory(env: dict[str, str]) -> StoreFactory:
    return StoreFactory(
        load_settings(env["MATFORGE_CONFIG_FILE"], home=env["MATFORGE_HOME"])
    )


def _candidates(env: dict[str, str]) -> list[tuple]:
    with _factory(env) as factory:
        return sorted(
            (d["formula"], d["status"], tuple(d["reasons"]), d.get("storage_score"))
            for d in factory.store("candidates").query()
        )


def _no_duplicates(env: dict[str, str]) -> dict[str, int]:
    counts = {}
    with _factory(env) as factory:
        for name, key in COLLECTIONS.items():
            ids = [d[key] for d in factory.store(name).query(properties=[key])]
            assert len(ids) == len(set(ids)), name
            counts[name] = len(ids)
        jobs = list(factory.job_store().docs_store.query(properties=["uuid"]))
        assert len(jobs) == len({d["uuid"] for d in jobs}) == 8
    return counts


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not SHARED.is_dir():
        pytest.skip("offline data folder not found")
    env = campaign_env(tmp_path_factory.mktemp("whole"))
    done = run("matforge", "run", "--quick", "--json", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"env": env, "summary": json.loads(done.stdout), "stderr": done.stderr}


def test_quick_run_reaches_candidates_and_report(finished):
    summary = finished["summary"]
    stages = [s["stage"] for s in summary["stages"]]
    assert stages == [
        "ingest",
        "features",
        "causal",
        "train",
        "generate",
        "relax",
        "candidates",
        "report",
    ]
    assert all(s["status"] == "done" for s in summary["stages"])
    assert "[5/9] generate: started" in finished["stderr"]
    counts = _no_duplicates(finished["env"])
    assert counts["generated"] == counts["relaxed"] == counts["candidates"] == 6
    # the quick generator's compositions are hydrides, so some get ranked
    ranked = [c for c in _candidates(finished["env"]) if c[1] == "candidate"]
    assert ranked, "the quick campaign ranked no candidate"
    assert all(Composition(formula)["H"] > 0 for formula, *_ in ranked)
    with _factory(finished["env"]) as factory:
        docs = list(factory.store("candidates").query(properties=["run_id"]))
        assert {d["run_id"] for d in docs} == {summary["run_id"]}
    folder = Path(finished["env"]["MATFORGE_HOME"]) / "reports" / summary["run_id"]
    for name in ("report.md", "report.html", "score_distribution.png"):
        assert (folder / name).is_file()
    assert (folder / "causal_graph.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_skips_every_stage(finished):
    env = finished["env"]
    before = _candidates(env)
    again = run("matforge", "run", "--quick", "--json", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)
    assert all(s["skipped"] for s in summary["stages"])
    assert _candidates(env) == before
    _no_duplicates(env)


def test_killed_run_resumes_to_the_same_candidates(finished, tmp_path):
    env = campaign_env(tmp_path / "killed")
    proc = subprocess.Popen(
        command("matforge", "run", "--quick"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "[5/9] generate: started" in line:
            proc.kill()
            break
    proc.wait(timeout=60)
    assert proc.returncode != 0, "".join(seen)[-2000:]
    resumed = run("matforge", "run", "--quick", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    stages = {s["stage"]: s for s in json.loads(resumed.stdout)["stages"]}
    assert stages["train"]["skipped"]
    assert not stages["generate"]["skipped"]
    assert _candidates(env) == _candidates(finished["env"])
    _no_duplicates(env)


def test_report_command_rebuilds_the_report(finished, tmp_path):
    out = tmp_path / "report"
    done = run("matforge", "report", "--out", str(out), "--json", env=finished["env"])
    assert done.returncode == 0, done.stderr[-3000:]
    files = {Path(p).name for p in json.loads(done.stdout)["files"]}
    assert {"report.md", "report.html", "eform_parity.png"} <= files
    text = (out / "report.md").read_text()
    assert "## Top 10 candidates" in text
    assert "![" in text
