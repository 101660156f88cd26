"""``matforge amorphous``: ingest, train, predict, simulate, report on a fresh home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from matforge.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ingest_train_predict_report(
    shared_data: Path, tiny_config: Path, tmp_path: Path
) -> None:
    config = ["--config", str(tiny_config), "amorphous"]
    ingest = run(*config, "ingest", "--json")
    assert ingest.exit_code == 0, ingest.output
    summary = json.loads(ingest.stdout)
    assert summary["rows"] == 792
    assert summary["ingested"] == summary["documents"] == 789
    assert any("Li2Si2Os" in r["reason"] for r in summary["rejected"])
    again = json.loads(run(*config, "ingest", "--json").stdout)
    assert again["ingested"] == 0
    assert again["unchanged"] == 789

    train = run(*config, "train", "--kind", "rf", "--kind", "sisso", "--json")
    assert train.exit_code == 0, train.output
    models = json.loads(train.stdout)
    # rf for D and ln D (amorphous.targets), SISSO with 1 and 2 terms
    assert [m["target"] for m in models] == ["D", "lnD", "lnD", "lnD"]
    forest = models[0]
    assert forest["model_id"].startswith("amorph-random_forest-D-")
    assert 0.5 < forest["test_r2"] <= 1.0
    assert forest["cv_grouped_rmse"] is None  # cv: false in the tiny settings
    assert models[3]["formula"].startswith("ln D = ")

    predict = run(*config, "predict", "--formula", "Li2O", "-T", "1500", "--json")
    assert predict.exit_code == 0, predict.output
    result = json.loads(predict.stdout)
    assert result["model_id"] == forest["model_id"]  # the first of the training
    (row,) = result["rows"]
    assert row["temperature"] == 1500.0
    assert row["aimd_cm2_s"] == pytest.approx(row["predicted_cm2_s"] / row["ratio"])
    assert 1e-6 < row["predicted_cm2_s"] < 1e-2  # cm^2/s, not the table's unit
    sisso = run(
        *config,
        "predict",
        "--model",
        models[3]["model_id"],
        "--formula",
        "Li2O",
        "--json",
    )
    assert len(json.loads(sisso.stdout)["rows"]) >= 3  # every temperature

    out = tmp_path / "report"
    report = run(*config, "report", "--out", str(out), "--json")
    assert report.exit_code == 0, report.output
    names = {Path(p).name for p in json.loads(report.stdout)["files"]}
    assert {"amorphous_parity.png", "amorphous_importances.png"} <= names
    assert "amorphous_arrhenius.png" not in names  # no MD run yet
    for name in names:
        assert (out / name).stat().st_size > 0
    page = (out / "amorphous_report.md").read_text()
    assert forest["model_id"] in page
    assert "R^2 0.955" in page  # the authors' figures beside ours


def test_simulate_a_tiny_run_then_reuse_it(
    shared_data: Path, tiny_config: Path, tiny_li_o_model: Path, tmp_path: Path
) -> None:
    config = ["--config", str(tiny_config), "amorphous"]
    assert run(*config, "ingest").exit_code == 0
    args = [*config, "simulate", "Li2O", "--potential", str(tiny_li_o_model)]
    first = run(*args, "--json")
    assert first.exit_code == 0, first.output
    md = json.loads(first.stdout)
    assert md["volume_source"] == "table"
    assert not md["reused"]
    assert md["n_atoms"] == 6
    assert [f["temperature"] for f in md["fits"]] == [1500.0, 1000.0]
    assert all(f["trajectory_blob"] for f in md["fits"])
    assert all(f["mean_temperature"] > 0 for f in md["fits"])
    assert md["ea_ev"] is not None
    second = json.loads(run(*args, "--json").stdout)
    assert second["reused"]
    assert second["md_id"] == md["md_id"]
    searched = json.loads(run(*args, "--volume-search", "-T", "1200", "--json").stdout)
    assert searched["volume_source"] == "search"
    assert searched["md_id"] != md["md_id"]

    out = tmp_path / "report"
    report = run(*config, "report", "--out", str(out))
    assert report.exit_code == 0, report.output
    assert (out / "amorphous_arrhenius.png").stat().st_size > 0
    assert "Li2O" in (out / "amorphous_report.html").read_text()
    assert "<T> (K)" in (out / "amorphous_report.md").read_text()


def test_bad_inputs_get_one_line_errors(tiny_config: Path, tmp_path: Path) -> None:
    config = ["--config", str(tiny_config), "amorphous"]
    assert "run `matforge amorphous ingest` first" in run(*config, "train").output
    nothing = run(*config, "predict", "--formula", "Li2O")
    assert nothing.exit_code == 1
    assert "no trained amorphous model" in nothing.output
    assert "nothing to report" in run(*config, "report").output
    no_li = run(*config, "simulate", "NaCl")
    assert no_li.exit_code == 1
    assert "NaCl has no Li" in no_li.output
    assert "cannot read formula" in run(*config, "simulate", "Xq2Li").output
    frames = run(*config, "simulate", "Li2O", "--production-ps", "0.002")
    assert "too few frames" in frames.output
    bad = tmp_path / "bad.dat"
    bad.write_text("formula temperature\nLi2O 1000\n")
    header = run(*config, "ingest", "--file", str(bad))
    assert header.exit_code == 1
    assert "Traceback" not in header.output
    assert str(bad) in header.output
