"""Ingest throughput into the embedded store, and top-50 query latency.

Makes N distinct hydrides from the offline seed structures that are metal
hydrides by matforge's rule (each one strained and its atoms displaced at
random, with a formation energy so it has a score), writes them to a JSON.gz
file, and times ``matforge``'s file ingest into a fresh embedded (montydb,
sqlite) store: reading, checks, primitive cells and analysis, and writes. Then
times a second, unchanged ingest and the top-50-by-score query, and prints the
peak resident memory of this process and of its worker processes.

    python bench/ingest.py [--n 10000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from matforge.core.chemistry import metal_hydride_problem
from matforge.data.files import read_paths
from matforge.data.ingest import ingest_records
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.queries import top_documents


def perturbed_hydrides(
    seed_file: Path, n: int, rng: np.random.Generator
) -> Iterator[Structure]:
    """Yield n distinct metal hydrides: the seed ones, strained and displaced."""
    seeds = [
        structure
        for s in json.loads(gzip.decompress(seed_file.read_bytes()))
        if metal_hydride_problem(structure := Structure.from_dict(s["structure"]))
        is None
    ]
    for i in range(n):
        structure = seeds[i % len(seeds)].copy()
        structure.apply_strain(rng.uniform(-0.02, 0.02, 3))
        structure.perturb(0.05, min_distance=0.0, seed=int(rng.integers(1 << 30)))
        yield structure


def write_records(seed_file: Path, n: int, rng: np.random.Generator, out: Path) -> None:
    """Write n records as one JSON list, one at a time (no list of them in memory)."""
    with gzip.open(out, "wt") as handle:
        handle.write("[")
        for i, structure in enumerate(perturbed_hydrides(seed_file, n, rng)):
            record = {
                "material_id": f"bench-{i}",
                "structure": structure.as_dict(),
                "formation_energy_per_atom": float(rng.uniform(-1.0, 0.3)),
                "e_above_hull": float(rng.uniform(0, 0.2)),
            }
            handle.write(("," if i else "") + json.dumps(record))
        handle.write("]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="structures to ingest")
    args = parser.parse_args()
    settings = load_settings()
    seed_file = settings.shared_data_dir() / "hydrides_seed.json.gz"
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.json.gz"
        t0 = time.perf_counter()
        write_records(seed_file, args.n, rng, data)
        print(f"made {args.n} distinct structures in {time.perf_counter() - t0:.1f} s")
        settings = load_settings(home=Path(tmp) / "home")
        with StoreFactory(settings) as factory:
            t0 = time.perf_counter()
            summary = ingest_records(read_paths([data]), factory, "files", [str(data)])
            first = time.perf_counter() - t0
            assert summary.ingested == args.n, summary.as_dict()
            print(
                f"first ingest : {args.n} documents in {first:.1f} s = "
                f"{args.n / first:.0f} documents/s (goal >= 500), "
                f"{len(summary.rejected)} rejected"
            )
            t0 = time.perf_counter()
            again = ingest_records(read_paths([data]), factory, "files", [str(data)])
            second = time.perf_counter() - t0
            assert again.unchanged == args.n, again.as_dict()
            print(
                f"re-ingest    : {args.n} unchanged in {second:.1f} s = "
                f"{args.n / second:.0f} documents/s"
            )
            store = factory.store("hydrides")
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                top = top_documents(store, "storage_score", top=50)
                times.append(time.perf_counter() - t0)
            assert len(top) == 50
            print(
                f"top-50 query : median {statistics.median(times) * 1000:.0f} ms, "
                f"best {min(times) * 1000:.0f} ms over {store.count()} documents"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory  : {own:.0f} MB here, {workers:.0f} MB in the largest worker")


if __name__ == "__main__":
    main()
