"""GPAW for real, on tiny cells with loose settings (marked `dft`).

Plane waves at 250 eV and k-point density 1.5 are far from converged: these
tests check that the subprocess / MPI route, atomate2's makers and the stage
work end to end, not the numbers (bench/dft_known_hydrides.py does that).
"""

import json

import pytest
from click.testing import CliRunner
from dft_helpers import candidates_store

from matforge.cli import cli
from matforge.dft.availability import INSTALL_HINT, gpaw_available
from matforge.dft.runner import DftCalculation, run_gpaw
from matforge.settings import DftSettings
from matforge.stores.queries import ranked_candidates

pytestmark = [
    pytest.mark.dft,
    pytest.mark.skipif(
        not gpaw_available(), reason=f"GPAW is not installed: {INSTALL_HINT}"
    ),
]

LOOSE = {
    "ecut": 250.0,
    "kpoint_density": 1.5,
    "fmax": 0.1,
    "steps": 4,
    "timeout_s": 300.0,
}


@pytest.fixture
def candidates_factory(shared_data, tmp_path):
    with candidates_store(shared_data, tmp_path) as factory:
        yield factory


def test_static_and_relaxation_under_mpi(lih, strained_lih, tmp_path):
    settings = DftSettings(**LOOSE)
    static = run_gpaw(DftCalculation(lih, "static", relax=False), settings, tmp_path)
    assert static.ok, static.error
    assert static.energy == pytest.approx(-6.0, abs=0.3)
    assert static.steps <= 1
    assert static.task_doc["ase_calculator_name"]
    assert (tmp_path / "static" / "gpaw.txt").is_file()

    relax = run_gpaw(DftCalculation(strained_lih, "relax"), settings, tmp_path)
    assert relax.ok, relax.error
    assert relax.steps >= 1
    assert relax.structure.volume < strained_lih.volume
    assert relax.task_doc["input"]["relax_cell"] is True
    assert len(relax.task_doc["output"]["ionic_steps"]) == relax.steps


def test_h2_molecule_in_a_box_runs_on_one_process(tmp_path):
    from matforge.dft.formation import h2_in_a_box

    settings = DftSettings(**LOOSE, mpi_processes=2)
    result = run_gpaw(
        DftCalculation(h2_in_a_box(5.0), "h2", molecule=True, relax=False),
        settings,
        tmp_path,
    )
    assert result.ok, result.error
    assert result.nprocs == 1
    assert result.energy == pytest.approx(-6.7, abs=0.5)


def test_validate_top_1_with_gpaw(candidates_factory, monkeypatch):
    uri = candidates_factory.settings.store.uri.get_secret_value()
    monkeypatch.setenv("MATFORGE_STORE__URI", uri)
    for key, value in LOOSE.items():
        monkeypatch.setenv(f"MATFORGE_DFT__{key.upper()}", str(value))
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "--top", "1", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    assert row["status"] == "computed", row["error"]
    assert row["formation_energy_dft_per_atom"] == pytest.approx(-0.5, abs=0.3)
    top = ranked_candidates(candidates_factory.store("candidates"), top=1)[0]
    assert top["formation_energy_dft_per_atom"] == row["formation_energy_dft_per_atom"]
    assert top["squared_error"] == pytest.approx(row["squared_error"])
    again = runner.invoke(cli, ["validate", "--top", "1", "--json"])
    assert json.loads(again.stdout)["rows"][0]["status"] == "cached"
