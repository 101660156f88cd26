"""The GPAW set-up, the worker protocol and the DFT formation energies (no GPAW)."""

import sys
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from matforge.data.offline import read_elemental_references
from matforge.dft.formation import dft_formation_energy, h2_in_a_box, reference_setup
from matforge.dft.gpaw import DftError, gpaw_parameters, spin_polarized
from matforge.dft.runner import (
    DftCalcResult,
    DftCalculation,
    gpaw_command,
    process_count,
    read_result,
    worker_environment,
    worker_input,
)
from matforge.dft.tasks import settings_hash, task_document
from matforge.schemas.dft import ReferenceUse
from matforge.settings import DftSettings


def test_gpaw_parameters_follow_the_settings():
    params = gpaw_parameters(DftSettings(ecut=500, kpoint_density=3.5))
    assert params["mode"] == {"name": "pw", "ecut": 500}
    assert params["xc"] == "PBE"
    assert params["kpts"] == {"density": 3.5, "gamma": True}
    assert params["occupations"] == {"name": "fermi-dirac", "width": 0.05}
    assert params["spinpol"] is False
    molecule = gpaw_parameters(DftSettings(), molecule=True)
    assert molecule["kpts"] == {"size": [1, 1, 1], "gamma": True}


def test_spin_only_with_magnetic_elements(lih):
    feh = Structure(Lattice.cubic(3.0), ["Fe", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert not spin_polarized(lih, "auto")
    assert spin_polarized(feh, "auto")
    assert spin_polarized(lih, "always")
    assert not spin_polarized(feh, "never")
    spec = worker_input(DftCalculation(feh, "x"), DftSettings())
    assert spec["calculator"]["spinpol"] is True
    assert [s["properties"]["magmom"] for s in spec["structure"]["sites"]] == [5, 0.6]


def test_worker_input_and_process_count(lih, monkeypatch):
    settings = DftSettings(mpi_processes=2, fmax=0.02, steps=7)
    spec = worker_input(DftCalculation(lih, "t", relax_cell=False), settings)
    assert (spec["relax"], spec["relax_cell"], spec["fmax"], spec["steps"]) == (
        True,
        False,
        0.02,
        7,
    )
    assert Structure.from_dict(spec["structure"]) == lih
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert process_count(DftCalculation(lih, "t"), settings) == 2
    assert process_count(DftCalculation(lih, "t", molecule=True), settings) == 1
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert process_count(DftCalculation(lih, "t"), settings) == 1


def test_commands_and_environment(tmp_path, monkeypatch):
    one = gpaw_command(1, tmp_path / "in.json", tmp_path / "out.json")
    assert one[:3] == [sys.executable, "-m", "matforge.dft.worker"]
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    two = gpaw_command(2, tmp_path / "in.json", tmp_path / "out.json")
    assert two[:3] == ["/usr/bin/mpiexec", "-n", "2"]
    assert two[3:8] == [sys.executable, "-m", "gpaw", "python", "-m"]
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(DftError, match="mpiexec not found"):
        gpaw_command(2, tmp_path / "in.json", tmp_path / "out.json")
    env = worker_environment()
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"


def test_read_result_of_a_failed_and_a_finished_worker(lih, tmp_path):
    failed = read_result("t", {"ok": False, "error": "boom"}, 2, tmp_path)
    assert (failed.ok, failed.error, failed.nprocs) == (False, "boom", 2)
    doc = {
        "structure": lih.as_dict(),
        "input": {"steps": 50},
        "output": {"energy": -6.0, "n_steps": 4},
        "is_force_converged": True,
    }
    done = read_result("t", {"ok": True, "seconds": 3.0, "task_doc": doc}, 1, tmp_path)
    assert (done.ok, done.energy, done.steps, done.converged) == (True, -6.0, 4, True)


def test_reference_setups(shared_data):
    refs = read_elemental_references(shared_data / "mp_elemental_references.json.gz")
    solid = reference_setup("H", refs, DftSettings())
    assert (solid.molecule, solid.relax, solid.relax_cell) == (False, True, False)
    assert solid.structure.composition.reduced_formula == "H2"
    molecule = reference_setup("H", refs, DftSettings(hydrogen_reference="molecule"))
    assert molecule.molecule
    assert molecule.structure.lattice.abc == (10.0, 10.0, 10.0)
    assert molecule.structure.get_distance(0, 1) == pytest.approx(0.75)
    ti = reference_setup("Ti", refs, DftSettings(relax=False))
    assert (ti.relax, ti.mp_id, len(ti.structure)) == (False, "mp-72", 3)
    manganese = reference_setup("Mn", refs, DftSettings())
    assert (manganese.cell, manganese.key, len(manganese.structure)) == (
        "fcc",
        "Mn:fcc",
        1,
    )
    assert manganese.structure.volume == pytest.approx(3.50**3 / 4)
    alpha = reference_setup("Mn", refs, DftSettings(small_reference_cells=False))
    assert (alpha.cell, alpha.key, len(alpha.structure)) == ("mp", "Mn", 29)
    with pytest.raises(DftError, match="no MP reference"):
        reference_setup("Xx", {}, DftSettings())
    assert len(h2_in_a_box(6.0)) == 2


def test_formation_energy_has_the_mp2020_hydride_correction(lih):
    mu = {"Li": -1.9, "H": -3.4}
    energy = -1.9 - 3.4 - 2 * 0.3
    e_form, corrected = dft_formation_energy(lih, energy, mu)
    assert corrected.correction == pytest.approx(-0.179, abs=1e-3)
    assert e_form == pytest.approx(-0.3 - 0.179 / 2, abs=1e-3)


def test_task_documents(lih):
    ok = DftCalcResult(label="t", ok=True, energy=-6.0, structure=lih, converged=True)
    refs = {
        "Li": ReferenceUse(task_id="r1", energy_per_atom=-1.9),
        "H": ReferenceUse(task_id="r2", energy_per_atom=-3.4),
    }
    common = {
        "task_id": "t",
        "purpose": "candidate",
        "code": "gpaw",
        "code_version": "x",
        "hash_": "h",
        "input_structure": lih,
        "relaxed": True,
    }
    doc = task_document(ok, references=refs, **common)
    assert doc.state == "successful"
    assert doc.formation_energy_per_atom == pytest.approx((-6.0 - 0.179 + 5.3) / 2)
    assert doc.references["Li"].task_id == "r1"
    assert doc.energy_per_atom == -3.0
    missing = task_document(ok, references={"Li": refs["Li"]}, **common)
    assert (missing.state, missing.error) == ("failed", "no reference energy for H")
    tired = DftCalcResult(label="t", ok=True, energy=-6.0, structure=lih, steps=9)
    unconverged = task_document(tired, references=refs, **common)
    assert unconverged.state == "successful"
    assert unconverged.formation_energy_per_atom == doc.formation_energy_per_atom
    assert unconverged.error.startswith("relaxation not converged in 9 steps")
    failed = task_document(
        DftCalcResult(label="t", ok=False, error="SCF"), references=refs, **common
    )
    assert (failed.state, failed.error, failed.formation_energy_per_atom) == (
        "failed",
        "SCF",
        None,
    )


def test_settings_hash_ignores_how_it_runs():
    base = settings_hash(DftSettings(), "26.7")
    assert base == settings_hash(DftSettings(mpi_processes=8, top_k=2), "26.7")
    assert base != settings_hash(DftSettings(ecut=500), "26.7")
    assert base != settings_hash(DftSettings(), "26.8")
    assert base != settings_hash(DftSettings(code="vasp"), "26.7")


def test_the_caller_never_loads_gpaws_mpi_core():
    import subprocess

    # ASE's plugins import the light `gpaw` package; its compiled, MPI-linked
    # core `_gpaw` must only ever be loaded by the worker processes
    code = (
        "import sys, matforge.dft.runner, matforge.dft.tasks, matforge.dft.formation; "
        "sys.exit('_gpaw' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_worker_reports_a_bad_calculator_setting(tmp_path, lih):
    import json
    import subprocess

    pytest.importorskip("gpaw", reason="GPAW is not installed (the dft extra)")
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    spec = {
        "structure": lih.as_dict(),
        "calculator": {"no_such_parameter": 1},
        "relax": False,
    }
    source.write_text(json.dumps(spec))
    # in its own process, as always: GPAW's MPI core stays out of this one
    command = gpaw_command(1, source, target)
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, check=False)
    assert done.returncode == 1
    out = json.loads(Path(target).read_text())
    assert out["ok"] is False
    assert "no_such_parameter" in out["error"]


def test_missing_setups_are_found_in_every_setup_folder(tmp_path):
    from matforge.dft.worker import missing_setups

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "Li.PBE.gz").write_bytes(b"")
    (second / "H.PBE").write_bytes(b"")
    (second / "Th.LDA.gz").write_bytes(b"")
    symbols = ["Li", "H", "Th", "H", "U"]
    assert missing_setups(symbols, "PBE", [first, second]) == ["Th", "U"]
    assert missing_setups(symbols, "LDA", [first, second]) == ["Li", "H", "U"]
    assert missing_setups(["Li"], "PBE", []) == ["Li"]


def test_worker_names_an_element_without_a_setup(tmp_path):
    import json
    import subprocess

    pytest.importorskip("gpaw", reason="GPAW is not installed (the dft extra)")
    from gpaw import setup_paths

    if any(Path(p, "Th.PBE.gz").is_file() for p in setup_paths):
        pytest.skip("this GPAW install has a Th setup")
    thh2 = Structure(
        Lattice.cubic(4.0), ["Th", "H", "H"], [[0, 0, 0], [0.25] * 3, [0.75] * 3]
    )
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    spec = {
        "structure": thh2.as_dict(),
        "calculator": gpaw_parameters(DftSettings()),
        "relax": False,
    }
    source.write_text(json.dumps(spec))
    done = subprocess.run(
        gpaw_command(1, source, target), cwd=tmp_path, capture_output=True, check=False
    )
    assert done.returncode == 1
    out = json.loads(target.read_text())
    assert out["ok"] is False
    assert out["error"].startswith("DftError: GPAW has no PBE PAW setup for Th ")
    assert "GPAW_SETUP_PATH" in out["error"]
    assert not (tmp_path / "gpaw.txt").exists()  # stopped before GPAW started
