"""Time FCI (fisherz) on 450 x 12 linear-Gaussian data, and its bootstrap.

Usage: ``python bench/causal.py [--rows 450] [--columns 12] [--bootstrap 100]``.
Prints figures; asserts nothing (the goal is FCI under 5 s).
"""

from __future__ import annotations

import argparse
import statistics
import time

from matforge.causal.bootstrap import bootstrap_fci
from matforge.causal.fci import load_fci, run_fci
from matforge.causal.synthetic import linear_gaussian_sample, random_dag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=450)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--edge-probability", type=float, default=0.25)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    load_fci()
    print(f"import causal-learn: {time.perf_counter() - start:.2f} s")

    nodes, edges = random_dag(args.columns, args.edge_probability, args.seed)
    names, data = linear_gaussian_sample(edges, args.rows, args.seed, nodes=nodes)
    print(
        f"data: {args.rows} rows x {args.columns} columns, DAG with {len(edges)} edges"
    )
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        pag = run_fci(data, names, test="fisherz", alpha=args.alpha)
        times.append(time.perf_counter() - start)
    found = pag.skeleton()
    true = {frozenset(e) for e in edges}
    print(
        f"FCI fisherz (alpha {args.alpha:g}): median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s over {args.repeats} runs "
        f"(goal < 5 s); skeleton: {len(found & true)}/{len(true)} true edges found, "
        f"{len(found - true)} extra"
    )
    if args.bootstrap > 0:
        result = bootstrap_fci(
            data,
            names,
            names[-1],
            resamples=args.bootstrap,
            seed=args.seed,
            alpha=args.alpha,
        )
        print(
            f"bootstrap: {result.succeeded}/{args.bootstrap} resamples in "
            f"{result.runtime_s:.2f} s "
            f"({result.runtime_s / max(args.bootstrap, 1):.3f} s per resample)"
        )


if __name__ == "__main__":
    main()
