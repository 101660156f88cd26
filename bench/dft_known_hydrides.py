"""DFT (GPAW) formation energies of known hydrides against the Materials Project.

Runs the validation stage's own machinery (elemental references cached in
``dft_tasks``, GPAW in subprocesses under MPI, MP2020 corrections) on known
binary hydrides from ``hydrides_seed.json.gz`` and compares each formation
energy with MP's. MP's value of a formula is the lowest one in
``mp_metal_hydride_formulas.txt`` (its ground-state polymorph, which the
structures used here are). Prints a table, the MAE, the mean signed error and
the largest error, and the time of every calculation; asserts nothing.

Every calculation is stored (``benchmark`` and ``reference`` tasks) in the
store of ``--home``, so an interrupted run goes on where it stopped and a
second run with the same settings only prints.

    python bench/dft_known_hydrides.py [--set core|all] [--ecut 600]
        [--kpoint-density 4] [--nprocs 2] [--hydrogen solid|molecule]
        [--static] [--home DIR] [--json]

``core``: LiH, MgH2, TiH2, ZrH2, ScH2, CaH2 (their elements' references are
small cells with few k-points). ``all`` adds YH2 (Y's 3-atom
Sm-type reference needs 205 irreducible k-points at density 4: 3-4 minutes
per SCF iteration on 2 busy cores), NaH and KH (Na's and K's MP ground states
have 29 and 20 atoms).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from pymatgen.core import Composition, Element, Structure

from matforge.dft.gpaw import gpaw_version, require_gpaw
from matforge.dft.runner import run_gpaw
from matforge.dft.tasks import benchmark_task_id, settings_hash
from matforge.flows.dft import compute_task, reference_energies
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.dft import successful_tasks

CORE = {
    "LiH": "mp-23703",
    "MgH2": "mp-23710",
    "TiH2": "mp-24726",
    "ZrH2": "mp-24286",
    "ScH2": "mp-24237",
    "CaH2": "mp-23713",
}
EXTRA = {
    "YH2": "mp-24650",
    "NaH": "mp-23870",
    "KH": "mp-24084",
}


def mp_values(path: Path) -> dict[str, float]:
    """Lowest MP formation energy of each reduced formula in the text file."""
    values: dict[str, float] = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) != 2:
            continue
        formula = Composition(parts[0]).reduced_formula
        values[formula] = min(values.get(formula, math.inf), float(parts[1]))
    return values


def seed_structures(path: Path, ids: set[str]) -> dict[str, Structure]:
    with gzip.open(path, "rt") as handle:
        records = json.load(handle)
    return {
        r["material_id"]: Structure.from_dict(r["structure"])
        for r in records
        if r["material_id"] in ids
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["core", "all"], default="core")
    parser.add_argument("--only", nargs="*", help="formulas to compute (of the set)")
    parser.add_argument("--ecut", type=float, default=None)
    parser.add_argument("--kpoint-density", type=float, default=None)
    parser.add_argument("--nprocs", type=int, default=None)
    parser.add_argument("--hydrogen", choices=["solid", "molecule"], default=None)
    parser.add_argument("--static", action="store_true", help="no DFT relaxation")
    parser.add_argument("--home", default=None, help="bench store (default: tmp)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def main() -> int:
    args = parse_args()
    require_gpaw()

    home = Path(
        args.home
        or os.environ.get("MATFORGE_BENCH_HOME")
        or Path(tempfile.gettempdir()) / "matforge-bench-dft"
    )
    overrides = {
        "ecut": args.ecut,
        "kpoint_density": args.kpoint_density,
        "mpi_processes": args.nprocs,
        "hydrogen_reference": args.hydrogen,
    }
    dft = {k: v for k, v in overrides.items() if v is not None}
    if args.static:
        dft["relax"] = False
    settings = load_settings(home=home, store={"uri": None}, dft=dft)
    params = settings.dft
    shared = settings.shared_data_dir()
    chosen = dict(CORE) | (EXTRA if args.set == "all" else {})
    if args.only:
        chosen = {f: mid for f, mid in chosen.items() if f in args.only}
    structures = seed_structures(shared / "hydrides_seed.json.gz", set(chosen.values()))
    mp = mp_values(shared / "mp_metal_hydride_formulas.txt")
    version = gpaw_version()
    hash_ = settings_hash(params, version)
    root = home / "dft"
    runner = lambda calc: run_gpaw(calc, params, root)  # noqa: E731
    say(f"GPAW {version}, settings {hash_}: {params.model_dump(mode='json')}")
    rows = []
    started = time.perf_counter()
    with StoreFactory(settings) as factory:
        for formula, mid in chosen.items():
            structure = structures[mid]
            elements = sorted(
                (el.symbol for el in structure.composition), key=lambda s: Element(s).Z
            )
            refs = reference_energies(factory, elements, params, runner, version, say)
            task_id = benchmark_task_id(hash_, mid)
            done = successful_tasks(factory.store("dft_tasks"), [task_id]).get(task_id)
            if done is None:
                say(f"{formula} {mid} ({len(structure)} atoms)")
                doc = compute_task(
                    factory,
                    runner,
                    structure,
                    task_id,
                    params.model_copy(update={"code": "gpaw"}),
                    purpose="benchmark",
                    code_version=version,
                    hash_=hash_,
                    references=refs,
                    predicted=mp.get(formula),
                    material_id=mid,
                )
                done = doc.model_dump()
                say(f"  {doc.state} in {doc.seconds:.0f} s: {doc.error or ''}")
            rows.append(
                {
                    "formula": formula,
                    "material_id": mid,
                    "nsites": len(structure),
                    "mp": mp.get(formula),
                    "dft": done.get("formation_energy_per_atom"),
                    "steps": done.get("steps"),
                    "seconds": done.get("seconds"),
                    "error": done.get("error"),
                }
            )
        ref_docs = successful_tasks(
            factory.store("dft_tasks"), list(settings_refs(factory, hash_))
        )
    return report(rows, ref_docs, params, version, hash_, started, args.json)


def report(rows, ref_docs, params, version, hash_, started, as_json) -> int:
    errors = [r["dft"] - r["mp"] for r in rows if r["dft"] is not None and r["mp"]]
    stats = {
        "n": len(errors),
        "mae": sum(abs(e) for e in errors) / len(errors) if errors else None,
        "mean_error": sum(errors) / len(errors) if errors else None,
        "max_abs_error": max((abs(e) for e in errors), default=None),
        "wall_s": time.perf_counter() - started,
    }
    references = {
        d["element"]: {
            "nsites": d["nsites"],
            "energy_per_atom": d["energy_per_atom"],
            "steps": d["steps"],
            "seconds": d["seconds"],
        }
        for d in ref_docs.values()
    }
    if as_json:
        payload = {
            "gpaw": version,
            "settings_hash": hash_,
            "dft": params.model_dump(mode="json"),
            "rows": rows,
            "references": references,
            "stats": stats,
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(
        f"GPAW {version}: PW {params.ecut:g} eV, PBE, k-point density "
        f"{params.kpoint_density:g}, Fermi-Dirac {params.smearing_width:g} eV, "
        f"{'relaxed' if params.relax else 'static'}, H reference "
        f"{params.hydrogen_reference}, {params.mpi_processes} MPI processes"
    )
    print(f"{'formula':8} {'mp id':11} {'MP':>8} {'DFT':>8} {'DFT-MP':>8} {'s':>6}")
    for r in rows:
        diff = "-" if r["dft"] is None else f"{r['dft'] - r['mp']:+.4f}"
        dft_value = "-" if r["dft"] is None else f"{r['dft']:.4f}"
        print(
            f"{r['formula']:8} {r['material_id']:11} {r['mp']:8.4f} {dft_value:>8} "
            f"{diff:>8} {r['seconds'] or 0:6.0f}"
        )
    for element, ref in sorted(references.items()):
        print(
            f"reference {element}: {ref['nsites']} atoms, {ref['steps']} steps, "
            f"{ref['seconds']:.0f} s"
        )
    if stats["n"]:
        print(
            f"MAE {stats['mae']:.4f} eV/atom over {stats['n']} hydrides; mean "
            f"error {stats['mean_error']:+.4f}; largest {stats['max_abs_error']:.4f}"
        )
    print(f"wall time {stats['wall_s']:.0f} s")
    return 0


def settings_refs(factory: StoreFactory, hash_: str) -> list[str]:
    """Task ids of the stored references with a settings hash."""
    store = factory.store("dft_tasks")
    return [
        d["task_id"]
        for d in store.query(
            {"purpose": "reference", "settings_hash": hash_},
            properties=["task_id"],
        )
    ]


if __name__ == "__main__":
    sys.exit(main())
