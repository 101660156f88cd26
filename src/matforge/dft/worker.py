"""The process side of a GPAW calculation: JSON in, atomate2 task document out.

Run by :mod:`matforge.dft.runner` as::

    mpiexec -n 2 python -m gpaw python -m matforge.dft.worker input.json output.json

(or without ``mpiexec`` and ``gpaw python`` on one process). Every MPI rank
runs the same atomate2 job, so GPAW's collective operations (the SCF, forces,
stresses, its log) happen on every rank as they must; only the first rank
writes ``output.json``, after the others are done.

``input.json`` holds ``structure`` (a pymatgen ``Structure`` dict, with a
``magmom`` site property for spin-polarised runs), ``calculator`` (GPAW's
keyword arguments), ``relax`` and ``relax_cell`` (booleans), ``fmax``,
``steps`` and ``optimizer``. ``output.json`` holds ``ok``, ``error``,
``seconds`` and ``task_doc`` (the ``AseStructureTaskDoc`` as a dict).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from matforge.dft.availability import DftError


def missing_setups(
    symbols: list[str], xc: str, paths: list[str] | list[Path]
) -> list[str]:
    """Return the elements with no PAW setup file for ``xc`` in ``paths`` (pure).

    GPAW looks for ``<symbol>.<xc>`` or ``<symbol>.<xc>.gz`` in each folder of
    its setup paths (``GPAW_SETUP_PATH``, then the ``gpaw-data`` wheel).
    """
    folders = [Path(path) for path in paths]
    return [
        symbol
        for symbol in dict.fromkeys(symbols)
        if not any(
            (folder / f"{symbol}.{xc}{suffix}").is_file()
            for folder in folders
            for suffix in ("", ".gz")
        )
    ]


def check_setups(spec: dict[str, Any]) -> None:
    """Raise a :class:`DftError` naming the elements GPAW has no setup for.

    Without it, GPAW stops with a bare "Could not find required PAW dataset
    file" after the calculation has been set up; ``gpaw-data`` has no setups
    for the actinides (Th, U, ...), for instance.
    """
    from gpaw import setup_paths

    symbols = [
        species["element"]
        for site in spec["structure"]["sites"]
        for species in site["species"]
    ]
    xc = str(spec["calculator"].get("xc", "PBE"))
    missing = missing_setups(symbols, xc, list(setup_paths))
    if missing:
        where = ", ".join(str(path) for path in setup_paths) or "no folder"
        raise DftError(
            f"GPAW has no {xc} PAW setup for {', '.join(missing)} (searched "
            f"{where}); put {missing[0]}.{xc}.gz in a folder named by "
            "GPAW_SETUP_PATH to compute this structure"
        )


def make_job(spec: dict[str, Any]) -> Any:
    """Return the atomate2 job that a worker input describes."""
    from pymatgen.core import Structure

    from matforge.dft.gpaw import GpawRelaxMaker, GpawStaticMaker

    structure = Structure.from_dict(spec["structure"])
    if spec.get("relax", True):
        maker: GpawRelaxMaker = GpawRelaxMaker(
            calculator_kwargs=spec["calculator"],
            relax_cell=bool(spec.get("relax_cell", True)),
            steps=int(spec.get("steps", 100)),
            relax_kwargs={"fmax": float(spec.get("fmax", 0.05))},
            optimizer_kwargs={"optimizer": spec.get("optimizer", "BFGS")},
        )
    else:
        maker = GpawStaticMaker(calculator_kwargs=spec["calculator"])
    return maker.make(structure)


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one calculation and return what ``output.json`` holds.

    Parameters
    ----------
    spec
        The contents of ``input.json``.

    Returns
    -------
    dict
        ``ok``, ``error`` (a message and the traceback's tail), ``seconds``
        and ``task_doc``.
    """
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore
    from monty.json import jsanitize

    started = time.perf_counter()
    try:
        check_setups(spec)
        job = make_job(spec)
        store = JobStore(MemoryStore())
        responses = run_locally(job, store=store, log=False, raise_immediately=True)
        output = responses[job.uuid][1].output
        doc = jsanitize(output, strict=True, allow_bson=False, enum_values=True)
        doc.pop("objects", None)  # no trajectory is kept; leave nothing large
        return {
            "ok": True,
            "error": None,
            "seconds": time.perf_counter() - started,
            "task_doc": doc,
        }
    except Exception as exc:
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}\n{tail}",
            "seconds": time.perf_counter() - started,
            "task_doc": None,
        }


def main(argv: list[str] | None = None) -> int:
    """Read ``input.json``, run it on every rank, write ``output.json`` once."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m matforge.dft.worker INPUT OUTPUT\n")
        return 2
    source, target = Path(args[0]), Path(args[1])
    spec = json.loads(source.read_text(encoding="utf-8"))
    result = run_spec(spec)
    try:
        from gpaw.mpi import world
    except ImportError:  # no GPAW: one process, the error is in the result
        from ase.parallel import world

    world.barrier()
    if world.rank == 0:
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(result), encoding="utf-8")
        partial.replace(target)
    world.barrier()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
