"""Relaxations per minute, one by one (ASE) vs batched (torch-sim), same structures.

Usage: ``python bench/relax.py [--count 16] [--potential sevennet-0]
[--fmax 0.05] [--steps 300] [--threads 0]`` (0: every core).

The structures are seed hydrides of 3 to 20 atoms, strained by +4 % in volume
and rattled by 0.05 A so that every relaxation has work to do. Both engines
relax the same structures in one run, in one process, with the same network
(streamlined on load, see :mod:`matforge.potentials.speedups`); the machine is
shared, so the figures move with the other work on it. A first line times the
network alone on every cell, one by one and as one batch: what batching can
gain at most. Prints figures; asserts nothing (the goal is batched at least 3x
sequential, and about 1,000 relaxations within an hour).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from matforge.potentials.registry import (
    load_calculator,
    load_torchsim_model,
    resolve_potential,
)
from matforge.potentials.relax import relax_batched, relax_sequential


def _structures(shared: Path, count: int, seed: int) -> list[Structure]:
    with gzip.open(shared / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    rng = np.random.default_rng(seed)
    picked = []
    for record in records:
        structure = Structure.from_dict(record["structure"])
        if 3 <= len(structure) <= 20:
            picked.append(structure)
    order = rng.permutation(len(picked))[:count]
    structures = []
    for i in sorted(order):
        s = picked[i].copy()
        s.scale_lattice(s.volume * 1.04)
        s.perturb(0.05, min_distance=0.0)
        structures.append(s)
    return structures


def _network_alone(
    structures: list[Structure], spec, threads: int, repeats: int = 3
) -> tuple[float, float]:
    """Best time of the torch-sim network on every cell singly and as one batch.

    This bounds what batching can gain: the rest of either engine is the
    optimiser and the bookkeeping around it.
    """
    import torch_sim as ts

    model = load_torchsim_model(spec, threads)
    singles = [ts.initialize_state([s], model.device, model.dtype) for s in structures]
    batch = ts.initialize_state(list(structures), model.device, model.dtype)
    best_alone = best_together = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for state in singles:
            model(state)
        best_alone = min(best_alone, time.perf_counter() - start)
        start = time.perf_counter()
        model(batch)
        best_together = min(best_together, time.perf_counter() - start)
    return best_alone, best_together


def _report(label: str, results: list, elapsed: float) -> float:
    rate = len(results) / elapsed * 60
    steps = [r.steps for r in results]
    ok = sum(r.ok for r in results)
    print(
        f"{label:10s} {elapsed:7.1f} s  {rate:6.1f} relaxations/min  "
        f"converged {ok}/{len(results)}  steps median {statistics.median(steps):.0f}"
        f" (max {max(steps)})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--potential", default="sevennet-0")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-atoms", type=int, default=160)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("MATFORGE_SHARED_DATA", "../shared/data")),
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    spec = resolve_potential(args.potential)
    structures = _structures(args.shared, args.count, args.seed)
    sizes = [len(s) for s in structures]
    print(
        f"{spec.name} ({spec.version}), torch threads {args.threads}, "
        f"fmax {args.fmax} eV/A, {len(structures)} structures of "
        f"{min(sizes)}-{max(sizes)} atoms ({sum(sizes)} atoms), load "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    start = time.perf_counter()
    load_calculator(spec, args.threads)
    load_torchsim_model(spec, args.threads)
    print(f"model load: {time.perf_counter() - start:.1f} s (once per process)")
    # warm both engines on one small structure
    relax_sequential(structures[:1], spec, relax=False, threads=args.threads)
    relax_batched(structures[:2], spec, relax=False, threads=args.threads)
    alone, together = _network_alone(structures, spec, args.threads)
    print(
        f"network alone (energy, forces, stress of every cell once): one by one "
        f"{alone:.2f} s, as one batch {together:.2f} s ({alone / together:.2f}x)"
    )

    common = {"fmax": args.fmax, "steps": args.steps, "threads": args.threads}
    start = time.perf_counter()
    seq = relax_sequential(structures, spec, **common)
    seq_rate = _report("sequential", seq, time.perf_counter() - start)
    start = time.perf_counter()
    bat = relax_batched(structures, spec, batch_atoms=args.batch_atoms, **common)
    bat_rate = _report("batched", bat, time.perf_counter() - start)

    diffs = [
        abs(a.energy_per_atom - b.energy_per_atom)
        for a, b in zip(seq, bat, strict=True)
        if a.ok and b.ok
    ]
    print(
        f"speed-up batched / sequential: {bat_rate / seq_rate:.1f}x; "
        f"1,000 relaxations would take {1000 / bat_rate:.0f} min batched, "
        f"{1000 / seq_rate:.0f} min sequential"
    )
    if diffs:
        print(
            f"final energies, batched vs sequential: median |dE| "
            f"{statistics.median(diffs) * 1000:.1f} meV/atom, max "
            f"{max(diffs) * 1000:.1f} meV/atom"
        )


if __name__ == "__main__":
    main()
