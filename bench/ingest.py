"""Ingest throughput into the embedded store, and top-50 query latency.

Makes N distinct hydrides from the offline seed structures (each one strained
and its atoms displaced at random, with a formation energy so it has a score),
writes them to a JSON.gz file, and times ``matforge``'s file ingest into a fresh
embedded (montydb, sqlite) store: reading, checks and analysis, and writes.
Then times a second, unchanged ingest and the top-50-by-score query.

    python bench/ingest.py [--n 10000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from matforge.data.files import read_paths
from matforge.data.ingest import ingest_records
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.queries import top_documents


def make_records(seed_file: Path, n: int, rng: np.random.Generator) -> list[dict]:
    seeds = json.loads(gzip.decompress(seed_file.read_bytes()))
    records = []
    for i in range(n):
        seed = seeds[i % len(seeds)]
        structure = Structure.from_dict(seed["structure"])
        structure.apply_strain(rng.uniform(-0.02, 0.02, 3))
        structure.perturb(0.05, min_distance=0.0, seed=int(rng.integers(1 << 30)))
        records.append(
            {
                "material_id": f"bench-{i}",
                "structure": structure.as_dict(),
                "formation_energy_per_atom": float(rng.uniform(-1.0, 0.3)),
                "e_above_hull": float(rng.uniform(0, 0.2)),
            }
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="structures to ingest")
    args = parser.parse_args()
    settings = load_settings()
    seed_file = settings.shared_data_dir() / "hydrides_seed.json.gz"
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    records = make_records(seed_file, args.n, rng)
    print(
        f"made {len(records)} distinct structures in {time.perf_counter() - t0:.1f} s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.json.gz"
        data.write_bytes(gzip.compress(json.dumps(records).encode()))
        del records
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


if __name__ == "__main__":
    main()
