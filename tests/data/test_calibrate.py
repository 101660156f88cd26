from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from matforge.cli import cli
from matforge.potentials.calibration import (
    calibration_stats,
    parity_plot,
    read_formula_energies,
)
from matforge.schemas.potential import CalibrationRow

PNG = b"\x89PNG"


def test_read_formula_energies(shared_data) -> None:
    energies = read_formula_energies(shared_data / "mp_metal_hydride_formulas.txt")
    assert len(energies) > 200  # 335 lines, 211 reduced formulas
    assert energies["LiH"] == pytest.approx(-0.4825, abs=1e-3)
    assert energies["MgH2"] < 0


def test_stats_and_plot() -> None:
    rows = [
        CalibrationRow(formula="LiH", dataset="seed", dft=-0.5, ml=-0.4),
        CalibrationRow(formula="NaH", dataset="seed", dft=-0.3, ml=-0.5),
        CalibrationRow(formula="KH", dataset="seed", dft=-0.2, ml=None, error="x"),
    ]
    stats = calibration_stats(rows, "seed")
    assert stats.n == 2
    assert stats.failed == 1
    assert stats.mae == pytest.approx(0.15)
    assert stats.rmse == pytest.approx((0.01 + 0.04) ** 0.5 / 2**0.5)
    assert stats.mean_error == pytest.approx(-0.05)
    assert stats.max_abs_error == pytest.approx(0.2)
    assert calibration_stats(rows[2:], "seed").mae is None
    assert parity_plot(rows, [stats], "test").startswith(PNG)


@pytest.mark.potential
def test_calibrate_command(tmp_path: Path, lih, shared_data) -> None:
    seeds = tmp_path / "lih.json"
    record = {
        "material_id": "seed-lih",
        "structure": lih.as_dict(),
        "formation_energy_per_atom": -0.4825,
    }
    seeds.write_text(json.dumps([record]))
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", "files", str(seeds)]).exit_code == 0
    plot = tmp_path / "parity.png"
    result = runner.invoke(
        cli,
        [
            "dataset",
            "calibrate",
            "--potential",
            "sevennet-0",
            "--plot",
            str(plot),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["calibration_id"] == "sevennet-0:static"
    stats = {s["dataset"]: s for s in out["stats"]}
    assert stats["seed"]["n"] == 1
    assert stats["mp_formulas"]["n"] == 1  # LiH is in the MP formulas file
    assert stats["seed"]["mae"] < 0.15
    assert plot.read_bytes().startswith(PNG)
    text = runner.invoke(cli, ["dataset", "calibrate", "--potential", "sevennet-0"])
    assert "seed: n 1, MAE" in text.output
    stats_out = json.loads(runner.invoke(cli, ["db", "stats", "--json"]).output)
    assert stats_out["calibrations"] == 1  # one document per potential and mode
