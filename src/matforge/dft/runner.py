"""Run GPAW calculations in their own processes, under MPI.

The caller never imports GPAW: each calculation is a subprocess,

``mpiexec -n N python -m gpaw python -m matforge.dft.worker input.json output.json``

in a working folder of its own (``<home>/dft/<label>``) that keeps the input,
the result, GPAW's text log and the process output. One thread per MPI rank
(``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``); as root, Open MPI is told
that this is allowed. A molecule in a box (one k-point) runs on one process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matforge.dft.gpaw import (
    DftError,
    gpaw_parameters,
    initial_magmoms,
    require_gpaw,
    spin_polarized,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from matforge.settings import DftSettings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class DftCalculation:
    """One DFT calculation to run: a structure and how to treat it.

    Parameters
    ----------
    structure
        The structure (its sites' ``magmom`` are set when spin-polarised).
    label
        Name of its working folder (a task id).
    molecule
        A molecule in a box: Gamma point only, one process.
    relax
        Relax before taking the energy (False: a single point).
    relax_cell
        Relax the cell too.
    """

    structure: Structure
    label: str
    molecule: bool = False
    relax: bool = True
    relax_cell: bool = True


@dataclass
class DftCalcResult:
    """What a DFT calculation gave (or why it gave nothing)."""

    label: str
    ok: bool
    energy: float | None = None
    structure: Structure | None = None
    converged: bool = False
    steps: int = 0
    seconds: float = 0.0
    task_doc: dict[str, Any] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    nprocs: int = 1
    error: str | None = None
    workdir: str | None = None


def worker_input(calc: DftCalculation, settings: DftSettings) -> dict[str, Any]:
    """Return the worker's ``input.json`` for a calculation (pure).

    Parameters
    ----------
    calc
        The calculation.
    settings
        The ``dft`` settings.

    Returns
    -------
    dict
        ``structure``, ``calculator`` (GPAW's keyword arguments), ``relax``,
        ``relax_cell``, ``fmax``, ``steps`` and ``optimizer``.
    """
    structure = calc.structure.copy()
    spinpol = not calc.molecule and spin_polarized(structure, settings.spin_polarized)
    if spinpol:
        structure.add_site_property("magmom", initial_magmoms(structure))
    elif "magmom" in structure.site_properties:
        structure.remove_site_property("magmom")
    return {
        "structure": structure.as_dict(),
        "calculator": gpaw_parameters(
            settings, molecule=calc.molecule, spinpol=spinpol
        ),
        "relax": calc.relax,
        "relax_cell": calc.relax_cell and not calc.molecule,
        "fmax": settings.fmax,
        "steps": settings.steps,
        "optimizer": settings.optimizer,
    }


def process_count(calc: DftCalculation, settings: DftSettings) -> int:
    """Return the MPI processes of a calculation: 1 for a molecule, at most cores."""
    if calc.molecule:
        return 1
    return max(1, min(settings.mpi_processes, os.cpu_count() or 1))


def gpaw_command(
    nprocs: int, source: Path, target: Path, mpiexec: str = "mpiexec"
) -> list[str]:
    """Return the command line of a worker on ``nprocs`` MPI processes.

    Raises
    ------
    DftError
        If more than one process is wanted and the MPI launcher is missing.
    """
    worker = ["-m", "matforge.dft.worker", str(source), str(target)]
    if nprocs == 1:
        return [sys.executable, *worker]
    launcher = shutil.which(mpiexec)
    if launcher is None:
        raise DftError(
            f"{mpiexec} not found: install Open MPI (Debian: openmpi-bin "
            "libopenmpi-dev, or ./install.sh) or set dft.mpi_processes to 1"
        )
    return [
        launcher,
        "-n",
        str(nprocs),
        sys.executable,
        "-m",
        "gpaw",
        "python",
        *worker,
    ]


def worker_environment() -> dict[str, str]:
    """Return the environment of a worker: one thread per rank, MPI as root."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = "1"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def _tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return "\n".join(text[-lines:])


def read_result(
    label: str, payload: dict[str, Any], nprocs: int, workdir: Path
) -> DftCalcResult:
    """Turn a worker's ``output.json`` into a result (pure but for nothing)."""
    from pymatgen.core import Structure

    doc = payload.get("task_doc")
    seconds = float(payload.get("seconds") or 0.0)
    if not payload.get("ok") or not doc:
        return DftCalcResult(
            label=label,
            ok=False,
            seconds=seconds,
            nprocs=nprocs,
            error=payload.get("error") or "the worker gave no task document",
            workdir=str(workdir),
        )
    output = doc.get("output") or {}
    relaxing = (doc.get("input") or {}).get("steps", 1) > 1
    converged = bool(doc.get("is_force_converged")) if relaxing else True
    return DftCalcResult(
        label=label,
        ok=True,
        energy=float(output["energy"]),
        structure=Structure.from_dict(doc["structure"]),
        converged=converged,
        steps=int(output.get("n_steps") or 0),
        seconds=seconds,
        task_doc=doc,
        nprocs=nprocs,
        workdir=str(workdir),
    )


def run_gpaw(calc: DftCalculation, settings: DftSettings, root: Path) -> DftCalcResult:
    """Run one GPAW calculation in a subprocess and return its result.

    Parameters
    ----------
    calc
        The calculation.
    settings
        The ``dft`` settings.
    root
        Folder of the working folders (``<home>/dft``).

    Returns
    -------
    DftCalcResult
        The energy, final structure and atomate2 task document, or the error
        (with the tail of the process output) when it failed or timed out.

    Raises
    ------
    DftError
        If GPAW or the MPI launcher is missing.
    """
    require_gpaw()
    nprocs = process_count(calc, settings)
    workdir = root / calc.label
    workdir.mkdir(parents=True, exist_ok=True)
    source, target = workdir / "input.json", workdir / "output.json"
    spec = worker_input(calc, settings)
    source.write_text(json.dumps(spec), encoding="utf-8")
    target.unlink(missing_ok=True)
    command = gpaw_command(nprocs, source, target, settings.mpiexec)
    log = workdir / "process.log"
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=worker_environment(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=settings.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return DftCalcResult(
                label=calc.label,
                ok=False,
                seconds=time.perf_counter() - started,
                parameters=spec["calculator"],
                nprocs=nprocs,
                error=f"timed out after {settings.timeout_s:g} s",
                workdir=str(workdir),
            )
    if not target.is_file():
        return DftCalcResult(
            label=calc.label,
            ok=False,
            seconds=time.perf_counter() - started,
            parameters=spec["calculator"],
            nprocs=nprocs,
            error=f"GPAW exited with {process.returncode} and no result: "
            f"{_tail(log) or _tail(workdir / 'gpaw.txt')}",
            workdir=str(workdir),
        )
    result = read_result(
        calc.label, json.loads(target.read_text(encoding="utf-8")), nprocs, workdir
    )
    result.parameters = spec["calculator"]
    return result
