"""Time the hull of many crystals over the 84,295 offline phases.

    python bench/phases_hull.py [--shared DIR] [--crystals 1000] [--seed 0]

Draws ``--crystals`` metal-hydride compositions of the offline file (seeded) and
judges each against the hull of its chemical system, at its own moved formation
energy with itself left out (so the figures are also a self-consistency check:
a stable MP phase comes out at or below 0). Prints the time to read the files,
to move and index the phases the crystals need, to judge them, the number of
phase diagrams built, and how many of the drawn MP phases lie within 0.0 /
0.1 eV/atom of their hull. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

from pymatgen.core import Composition

from matforge.core.chemistry import is_metal_hydride
from matforge.core.hull import HullCalculator
from matforge.data.phases import offline_phases


def shared_dir(given: str | None) -> Path:
    """Return the shared data folder."""
    if given:
        return Path(given)
    env = os.environ.get("MATFORGE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    """Print the timings and the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--crystals", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    offline = offline_phases(shared_dir(args.shared))
    read = time.perf_counter() - started
    systems = sorted(offline.systems())
    hydride_systems = [s for s in systems if is_metal_hydride_system(s)]
    rng = random.Random(args.seed)
    started = time.perf_counter()
    docs = []
    for system in rng.sample(hydride_systems, min(len(hydride_systems), args.crystals)):
        candidates = [d for d in offline.docs_in(system) if d.chemsys == system]
        usable = [d for d in candidates if d.usable]
        if usable:
            docs.append(rng.choice(usable))
    index = offline.index_for({d.chemsys for d in docs})
    indexed = time.perf_counter() - started
    hull = HullCalculator(index, stable_tolerance=0.0, metastable_threshold=0.1)
    started = time.perf_counter()
    results = [
        hull.assess(
            d.as_phase().composition, d.formation_energy_per_atom, d.material_id
        )
        for d in docs
    ]
    judged = time.perf_counter() - started
    values = [r.e_above_hull for r in results]
    print(
        f"read {len(offline)} phases in {read:.1f} s; drew {len(docs)} MP hydrides "
        f"in {len({d.chemsys for d in docs})} systems"
    )
    print(
        f"drew, moved and indexed the {len(index)} phases they need in "
        f"{indexed:.1f} s; "
        f"judged them in {judged:.1f} s ({hull.built} phase diagrams built)"
    )
    print(
        f"e_above_hull of MP's own hydrides (themselves left out): median "
        f"{statistics.median(values):+.3f}; <= 0.0: {sum(v <= 1e-9 for v in values)}, "
        f"<= 0.1: {sum(v <= 0.1 for v in values)} of {len(values)}"
    )


def is_metal_hydride_system(system: str) -> bool:
    """Return whether a chemical system holds H and a metal."""
    return is_metal_hydride(Composition(dict.fromkeys(system.split("-"), 1)))


if __name__ == "__main__":
    main()
