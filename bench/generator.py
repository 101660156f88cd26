"""Train the default generator on the store's hydrides and print its figures.

Usage: ``python bench/generator.py [--epochs N] [--samples 1000]
[--no-pretrain] [--guided] [--decodings 200] [--device cuda]`` with the store
chosen by the usual settings (``MATFORGE_HOME``, ``MATFORGE_STORE__URI``); run
``matforge ingest offline`` (or ``matforge dataset expand``) first.

Prints the MP-20 pre-training and fine-tuning times, the time to sample the
crystals, peak memory, the metrics table (CDVAE's definitions: reconstruction
of valid predictions only, COV with CDVAE's fixed MP-20 scaler over every
generated crystal) beside the issue's goals, the diagnostics (reconstruction
of training and test crystals with predicted and with forced atom counts and
compositions, the train-vs-test coverage ceiling, the splits' SMACT rates)
and, with ``--decodings N``, the validity of N crystals per composition
decoding. Figures only; nothing is asserted; timings on a shared machine are
noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from typing import Any

from tqdm import tqdm

from matforge.flows.generator import (
    evaluate_generator,
    generate_candidates,
    load_model,
    pretrain_folder,
    sampling_settings,
    train_generator,
)
from matforge.ml.metrics import (
    CDVAE_MP20,
    compositional_validity,
    structural_validity,
)
from matforge.ml.sample import COMPOSITIONS, sample_crystals
from matforge.settings import load_settings
from matforge.stores import StoreFactory

TRAIN_MINUTES = 20.0
SAMPLE_MINUTES = 5.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _goals(table: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Return the issue's goal of each row: (threshold, text)."""
    smact = table.get("train_compositional_validity", float("nan"))
    goals = {
        "recon_match_rate": (0.15, ">= 0.15"),
        "structural_validity": (0.98, ">= 0.98"),
        "uniqueness": (0.90, ">= 0.90"),
        "compositional_validity": (smact - 0.05, f"within 0.05 of {smact:.3f}"),
    }
    for name in ("cov_r", "cov_p"):
        ceiling = table.get(f"{name}_ceiling")
        if ceiling is not None:
            goals[name] = (0.8 * ceiling, f">= 0.8 x {ceiling:.3f}")
    return goals


def _print_metrics(table: dict[str, Any]) -> None:
    rows = (
        "recon_match_rate",
        "recon_match_rate_any",
        "recon_rmse",
        "structural_validity",
        "compositional_validity",
        "train_compositional_validity",
        "validity",
        "uniqueness",
        "novelty",
        "cov_r",
        "cov_r_ceiling",
        "cov_p",
        "cov_p_ceiling",
        "wdist_density",
        "wdist_num_elements",
        "mean_predicted_storage_score",
    )
    goals = _goals(table)
    header = f"{'metric':30s} {'value':>8s} {'CDVAE MP-20':>12s}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        value = table.get(row)
        goal = goals.get(row)
        verdict = ""
        if goal is not None and isinstance(value, float):
            ok = value >= goal[0]
            if row == "compositional_validity":
                ok = abs(value - table["train_compositional_validity"]) <= 0.05
            verdict = f"{goal[1]} {'ok' if ok else 'MISSED'}"
        print(
            f"{row:30s} {_fmt(value):>8s} {_fmt(CDVAE_MP20.get(row)):>12s}  {verdict}"
        )


def _print_diagnostics(found: dict[str, Any]) -> None:
    print()
    print(
        f"diagnostics ({found['sizes']}; {found.get('seconds', 0) / 60:.1f} min): "
        "reconstruction, CDVAE's match of valid predictions; N / comp ok: "
        "decoded with the true atom count / composition; head N / comp: the "
        "heads alone, before Langevin"
    )
    header = (
        f"{'split':6s} {'mode':10s} {'match':>6s} {'any':>6s} {'rmse':>6s} "
        f"{'valid':>6s} {'N ok':>6s} {'comp ok':>7s} {'head N':>7s} "
        f"{'head comp':>9s}"
    )
    print(header)
    print("-" * len(header))
    for split, modes in found["reconstruction"].items():
        for mode, row in modes.items():
            print(
                f"{split:6s} {mode:10s} {row['match_rate']:6.3f} "
                f"{row['match_rate_any']:6.3f} {row['rmse']:6.3f} {row['valid']:6.3f} "
                f"{row['num_atoms_accuracy']:6.3f} {row['composition_accuracy']:7.3f} "
                f"{_fmt(row.get('head_num_atoms_accuracy')):>7s} "
                f"{_fmt(row.get('head_composition_accuracy')):>9s}"
            )
    goals = {"train": 0.50, "test": 0.15}
    for split, goal in goals.items():
        rate = found["reconstruction"][split]["predicted"]["match_rate"]
        print(
            f"  {split} reconstruction (predicted) {rate:.3f}: goal >= {goal} "
            f"{'ok' if rate >= goal else 'MISSED'}"
        )
    ceiling = found["ceiling"]
    print(
        f"coverage ceiling (train vs test): COV-R {ceiling['cov_r']:.3f}, "
        f"COV-P {ceiling['cov_p']:.3f}; SMACT rate train "
        f"{found['smact']['train']:.3f}, test {found['smact']['test']:.3f}"
    )


def _decodings(model: Any, settings: Any, samples: int, device: str) -> None:
    """Print the validity of ``samples`` crystals per composition decoding."""
    from matforge.ml.metrics import matcher

    print()
    print(f"composition decodings ({samples} crystals each, the same latents):")
    header = (
        f"{'composition':12s} {'types':8s} {'struct':>7s} {'SMACT':>7s} "
        f"{'unique':>7s} {'min/1000':>9s}"
    )
    print(header)
    print("-" * len(header))
    base = sampling_settings(settings)
    for composition in COMPOSITIONS:
        for decode_types in (True, False):
            sampling = dataclasses.replace(
                base, composition=composition, decode_types=decode_types
            )
            start = time.perf_counter()
            found = sample_crystals(model, samples, 0, sampling, device)
            minutes = (time.perf_counter() - start) / 60 * 1000 / samples
            crystals = [s.structure for s in found]
            struct = [structural_validity(c) for c in crystals]
            comp = [compositional_validity(c.composition) for c in crystals]
            valid = [
                c for c, a, b in zip(crystals, struct, comp, strict=True) if a and b
            ]
            unique = len(matcher().group_structures(valid)) / max(len(valid), 1)
            print(
                f"{composition:12s} {'refined' if decode_types else 'kept':8s} "
                f"{sum(struct) / samples:7.3f} {sum(comp) / samples:7.3f} "
                f"{unique:7.3f} {minutes:9.2f}"
            )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-fingerprints",
        type=int,
        default=None,
        help="Fingerprint at most this many generated crystals for COV "
        "(default: all, as CDVAE).",
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: the ml.threads setting).",
    )
    parser.add_argument("--no-pretrain", action="store_true")
    parser.add_argument("--guided", action="store_true", help="Also sample guided.")
    parser.add_argument(
        "--decodings",
        type=int,
        default=0,
        help="Sample this many crystals per composition decoding (0: skip).",
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    settings = load_settings()
    if args.threads is not None:
        settings.ml.threads = args.threads
    pretrain_dir = pretrain_folder(settings, skip=args.no_pretrain)
    with StoreFactory(settings) as factory:
        n_hydrides = factory.store("hydrides").count()
        print(f"store: {factory.location}, {n_hydrides} hydrides; device {args.device}")
        epochs = args.epochs or settings.ml.epochs
        pre_bar = tqdm(
            total=settings.ml.pretrain_epochs if pretrain_dir else 0,
            desc="pre-train",
            file=sys.stderr,
        )
        bar = tqdm(total=epochs, desc="train", file=sys.stderr)
        start = time.perf_counter()
        doc = train_generator(
            factory,
            settings.ml,
            epochs=args.epochs,
            device=args.device,
            progress=lambda _e, _r: bar.update(1),
            pretrain_dir=pretrain_dir,
            pretrain_progress=lambda _e, _r: pre_bar.update(1),
        )
        train_s = time.perf_counter() - start
        bar.close()
        pre_bar.close()
        pre = doc.training.get("pretraining")
        if pre:
            print(
                f"pre-training on MP-20 sample {pre['sizes']}: reading "
                f"{pre['read_seconds']:.0f} s, {pre['epochs_run']} epochs (best "
                f"{pre['best_epoch']}) in {pre['seconds'] / 60:.1f} min"
            )
        print(
            f"model {doc.model_id}: split {doc.split_sizes}, fine-tuning "
            f"{doc.training['epochs_run']} epochs (best "
            f"{doc.training['best_epoch']}) in {doc.training['seconds'] / 60:.1f} "
            f"min; training in all {train_s / 60:.1f} min (goal <= "
            f"{TRAIN_MINUTES:.0f} min)"
        )
        tables = {}
        for guided in (False, True) if args.guided else (False,):
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
                f"({sample_s / 60 * 1000 / args.samples:.1f} min per 1000; goal "
                f"<= {SAMPLE_MINUTES:.0f} min per 1000)"
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
        if args.decodings:
            _, model = load_model(factory, doc.model_id, args.device)
            _decodings(model, settings.ml, args.decodings, args.device)
    print(f"peak memory (max RSS): {_peak_mib():.0f} MiB")
    for label, table in tables.items():
        print()
        print(f"== {label}")
        _print_metrics(table)
    _print_diagnostics(tables["unguided"]["diagnostics"])


if __name__ == "__main__":
    main()
