import csv
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from matforge.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_score_reproduces_the_paper_table(shared_data):
    with (shared_data / "paper_table.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        result = run(
            "score", row["formula"], row["e_form_predicted_ev_per_atom"], "--json"
        )
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert set(payload) == {
            "formula",
            "h_weight_fraction",
            "energy_factor",
            "storage_score",
        }
        assert abs(payload["storage_score"] - float(row["h_storage_score"])) <= 0.0005


def test_score_human_output_and_bad_input():
    result = run("score", "MgH2", "-0.25")
    assert result.exit_code == 0
    assert "storage score = 0.07" in result.output
    bad = run("score", "Xq2H", "-0.1")
    assert bad.exit_code != 0
    assert "cannot read formula" in bad.output
    assert run("score", "TiO2", "-0.1").exit_code != 0
    assert "no hydrogen" in run("score", "TiO2", "-0.1").output
    assert "finite" in run("score", "TiH2", "nan").output


def test_offline_ingest_then_query_and_stats():
    first = run("ingest", "offline", "--json")
    assert first.exit_code == 0, first.output
    # 19 seed entries hold H bonded only to O, N or S: not metal hydrides
    assert json.loads(first.output)["ingested"] == 85
    top = json.loads(run("query", "--top", "5", "--json").output)
    scores = [d["storage_score"] for d in top]
    assert len(top) == 5
    assert scores == sorted(scores, reverse=True)
    ti = json.loads(run("query", "--elements", "Ti,H", "--top", "50", "--json").output)
    assert ti
    assert all("Ti" in d["formula"] for d in ti)
    by_gap = json.loads(
        run("query", "--sort", "formation_energy_per_atom", "--asc", "--json").output
    )
    energies = [d["formation_energy_per_atom"] for d in by_gap]
    assert energies == sorted(energies)
    stats = json.loads(run("db", "stats", "--json").output)
    assert stats["backend"] == "embedded"
    assert stats["hydrides"] == 85
    assert stats["rejects"] == 19
    assert "hydrides" in run("db", "stats").output


def test_unreachable_database_is_one_line_without_password(monkeypatch):
    monkeypatch.setenv("MATFORGE_STORE__URI", "mongodb://bob:hunter2@127.0.0.1:9/")
    monkeypatch.setenv("MATFORGE_STORE__TIMEOUT_S", "1")
    out = subprocess.run(
        [sys.executable, "-m", "matforge.cli", "db", "stats"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "cannot reach MongoDB at 127.0.0.1:9" in text
    assert "hunter2" not in text
    assert "Traceback" not in text


@pytest.mark.parametrize("command", [["ingest", "offline"], ["db", "stats"], ["query"]])
def test_every_reporting_command_takes_json(command):
    assert "--json" in run(*command, "--help").output
