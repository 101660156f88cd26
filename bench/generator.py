"""Train the default generator on the store's hydrides and print its figures.

Usage: ``python bench/generator.py [--epochs N] [--samples 1000]`` with the
store chosen by the usual settings (``MATFORGE_HOME``, ``MATFORGE_STORE__URI``);
run ``matforge ingest offline`` first. Prints training time, sampling time,
peak memory and the metrics table beside CDVAE's published MP-20 figures.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from tqdm import tqdm

from matforge.flows.generator import (
    evaluate_generator,
    generate_candidates,
    train_generator,
)
from matforge.ml.metrics import CDVAE_MP20
from matforge.settings import load_settings
from matforge.stores import StoreFactory

GOALS = {
    "structural_validity": 0.95,
    "compositional_validity": 0.80,
    "uniqueness": 0.90,
    "novelty": 0.80,
}
ROWS = (
    "recon_match_rate",
    "recon_rmse",
    "structural_validity",
    "compositional_validity",
    "validity",
    "uniqueness",
    "novelty",
    "cov_r",
    "cov_p",
    "wdist_density",
    "wdist_num_elements",
    "mean_predicted_storage_score",
)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-fingerprints", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    settings = load_settings()
    with StoreFactory(settings) as factory:
        n_hydrides = factory.store("hydrides").count()
        print(f"store: {factory.location}, {n_hydrides} hydrides")
        epochs = args.epochs or settings.ml.epochs
        bar = tqdm(total=epochs, desc="train", file=sys.stderr)
        start = time.perf_counter()
        doc = train_generator(
            factory,
            settings.ml,
            epochs=args.epochs,
            device=args.device,
            progress=lambda _e, _r: bar.update(1),
        )
        train_s = time.perf_counter() - start
        bar.close()
        print(
            f"model {doc.model_id}: split {doc.split_sizes}, "
            f"{doc.training['epochs_run']} epochs, best epoch "
            f"{doc.training['best_epoch']}, training {train_s / 60:.1f} min "
            f"(goal <= 20 min)"
        )
        tables = {}
        for guided in (False, True):
            label = "guided" if guided else "unguided"
            bar = tqdm(total=args.samples, desc=f"sample {label}", file=sys.stderr)
            start = time.perf_counter()
            docs = generate_candidates(
                factory,
                settings.ml,
                args.samples,
                model_id=doc.model_id,
                seed=args.seed,
                guided=guided,
                device=args.device,
                progress=bar.update,
            )
            sample_s = time.perf_counter() - start
            bar.close()
            print(
                f"sampling {args.samples} {label}: {sample_s / 60:.1f} min "
                "(goal <= 10 min)"
            )
            start = time.perf_counter()
            tables[label] = evaluate_generator(
                factory,
                docs,
                settings.ml,
                device=args.device,
                max_fingerprints=args.max_fingerprints,
            )
            print(f"metrics {label}: {time.perf_counter() - start:.0f} s")
    print(f"peak memory (max RSS): {_peak_mib():.0f} MiB")
    print()
    header = f"{'metric':30s} {'unguided':>9s} {'guided':>9s} {'CDVAE MP-20':>12s} goal"
    print(header)
    print("-" * len(header))
    for row in ROWS:
        goal = GOALS.get(row)
        print(
            f"{row:30s} {_fmt(tables['unguided'].get(row)):>9s} "
            f"{_fmt(tables['guided'].get(row)):>9s} "
            f"{_fmt(CDVAE_MP20.get(row)):>12s} "
            f"{'>= ' + _fmt(goal) if goal else ''}"
        )


if __name__ == "__main__":
    main()
