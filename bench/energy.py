"""Peak memory and rate of ``matforge energy --no-relax`` as the input grows.

Makes N distinct metal hydrides from the offline seed structures (each one
strained and its atoms displaced at random), writes them as one JSON list of
Structure dicts (the input that used to be read and evaluated all at once),
and runs ``matforge energy --no-relax --json`` on it in a fresh embedded home,
in its own process. Prints, for each N, the wall time, the structures per
minute and the peak resident memory of that process (from ``wait4``), so the
figures of different N do not mix.

    python bench/energy.py [--n 1000 10000] [--potential sevennet-l3i5]

The first run in a fresh home also computes the elemental references of the
potential; its time is part of the figure and is printed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ingest import perturbed_hydrides  # bench/ingest.py, beside this script
from matforge.settings import load_settings

GOAL_MB = 3 * 1024


def write_structures(seed_file: Path, n: int, seed: int, out: Path) -> int:
    """Write n structures as one JSON list, one at a time; return the sites."""
    sites = 0
    with out.open("w") as handle:
        handle.write("[")
        structures = perturbed_hydrides(seed_file, n, np.random.default_rng(seed))
        for i, structure in enumerate(structures):
            sites += len(structure)
            handle.write(("," if i else "") + json.dumps(structure.as_dict()))
        handle.write("]")
    return sites


def run_energy(path: Path, home: Path, potential: str) -> tuple[float, float, list]:
    """Run the command; return its wall time, peak RSS (MB) and JSON rows."""
    env = dict(os.environ, MATFORGE_HOME=str(home), HF_HUB_OFFLINE="1")
    command = [
        sys.executable,
        "-m",
        "matforge.cli",
        "energy",
        "--no-relax",
        "--potential",
        potential,
        "--json",
        str(path),
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"matforge energy exited {process.returncode}:\n{tail}")
        rows = json.loads(out.read())
    return wall, usage.ru_maxrss / 1024, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--potential", default="sevennet-l3i5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seed_file = load_settings().shared_data_dir() / "hydrides_seed.json.gz"

    print(f"potential {args.potential}, static (--no-relax), one JSON list per run")
    print("| structures | sites | wall s | structures/min | peak RSS MB | errors |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            data = Path(tmp) / f"bench-{n}.json"
            sites = write_structures(seed_file, n, args.seed, data)
            wall, peak, rows = run_energy(data, Path(tmp) / f"home-{n}", args.potential)
            if len(rows) != n:
                raise SystemExit(f"{n} structures in, {len(rows)} rows out")
            errors = sum(row["error"] is not None for row in rows)
            worst = max(worst, peak)
            print(
                f"| {n} | {sites} | {wall:.0f} | {n / wall * 60:.0f} | {peak:.0f} "
                f"| {errors} |"
            )
            data.unlink()
    verdict = "holds" if worst <= GOAL_MB else "MISSED"
    print(f"largest peak {worst:.0f} MB (goal <= {GOAL_MB} MB): {verdict}")


if __name__ == "__main__":
    main()
