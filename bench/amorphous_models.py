"""Diffusivity models on the amorphous Li table, beside the authors' figures.

Prints, for random forest and XGBoost on D and on ln D: R^2, MAE, RMSE on the
authors' 85/15 split (train_test_split, random_state 62, rows in file order)
and the mean fold RMSE of 5-fold CV, random and grouped by composition; then
the SISSO-style descriptors of ln D with 1-4 terms (RMSE of the fit on all
rows, as the authors report it, and held out).

Run: ``nice -n 10 python bench/amorphous_models.py`` (about 5 min on 2 busy
cores; ``--no-sisso-cv`` saves half of it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from matforge.amorphous.descriptors import (
    feature_space,
    refit_authors,
    search_descriptors,
)
from matforge.amorphous.features import Dataset, dataset
from matforge.amorphous.train import train_model
from matforge.data.amorphous import TABLE_FILE, read_shared_table, read_table
from matforge.settings import load_settings

AUTHORS = {  # model, target -> R^2, MAE, RMSE, CV RMSE (D in the table's unit)
    ("random_forest", "D"): (0.955, 0.084, 0.120, 0.141),
    ("xgboost", "D"): (0.971, 0.070, 0.096, 0.123),
}


def model_table(data: Dataset, n_jobs: int) -> list[dict]:
    rows = []
    runs = [(k, t) for k in ("random_forest", "xgboost") for t in ("D", "lnD")]
    for kind, target in tqdm(runs, desc="models", leave=False):
        start = time.perf_counter()
        trained = train_model(data, kind, target, n_jobs=n_jobs)
        rows.append(
            {
                "model": kind,
                "target": target,
                "r2": trained.test.r2,
                "mae": trained.test.mae,
                "rmse": trained.test.rmse,
                "r2_D": trained.test_in_d.r2,
                "rmse_D": trained.test_in_d.rmse,
                "cv_random": trained.cv_random_rmse,
                "cv_grouped": trained.cv_grouped_rmse,
                "cv_random_D": trained.cv_in_d["random"],
                "cv_grouped_D": trained.cv_in_d["grouped"],
                "top": sorted(trained.importances.items(), key=lambda kv: -kv[1])[:6],
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def print_models(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(
        f"{'model':14s} {'target':6s} {'R2':>6s} {'MAE':>6s} {'RMSE':>6s} "
        f"{'CVrand':>7s} {'CVgrp':>7s} | in D: {'R2':>6s} {'RMSE':>6s} "
        f"{'CVrand':>7s} {'CVgrp':>7s} | authors R2/MAE/RMSE/CV"
    )
    for r in rows:
        ref = AUTHORS.get((r["model"], r["target"]))
        ref_text = "/".join(f"{v:.3f}" for v in ref) if ref else "-"
        print(
            f"{r['model']:14s} {r['target']:6s} {r['r2']:6.3f} {r['mae']:6.3f} "
            f"{r['rmse']:6.3f} {r['cv_random']:7.3f} {r['cv_grouped']:7.3f} | "
            f"      {r['r2_D']:6.3f} {r['rmse_D']:6.3f} {r['cv_random_D']:7.3f} "
            f"{r['cv_grouped_D']:7.3f} | {ref_text}"
        )
    for r in rows:
        if r["target"] == "D":
            top = ", ".join(f"{n} {v:.2f}" for n, v in r["top"])
            print(f"  importances {r['model']}: {top}")


def sisso_report(data: Dataset, sis_size: int, grouped_cv: bool) -> dict:
    space = feature_space(data)
    print(
        f"\nSISSO for ln D: {len(space.names)} candidate features from 43 "
        "primaries (1/kT and the descriptors; x, 1/x, x^2, sqrt, log, products, "
        f"ratios); SIS {sis_size} per dimension"
    )
    start = time.perf_counter()
    results = search_descriptors(data, 4, sis_size, grouped_cv)
    out: dict = {"seconds": time.perf_counter() - start, "models": []}
    print(
        f"{'terms':>5s} {'RMSE all':>9s} {'held out':>9s} {'CVgrp':>7s}  formula "
        "(ln D, D in 1e-3 cm^2/s; fitted on all rows)"
    )
    for d, r in enumerate(results, 1):
        cv = f"{r.cv_grouped_rmse:7.3f}" if r.cv_grouped_rmse is not None else "      -"
        print(
            f"{d:5d} {r.model.rmse:9.3f} {r.test_rmse:9.3f} {cv}  "
            f"ln D = {r.model.formula}"
        )
        out["models"].append(
            {
                "terms": d,
                "formula": r.model.formula,
                "rmse_all": r.model.rmse,
                "rmse_held_out": r.test_rmse,
                "held_out_terms": r.held_out.terms,
                "cv_grouped": r.cv_grouped_rmse,
            }
        )
    print("authors' descriptors, refitted here (all rows / train -> test):")
    out["authors"] = refit_authors(data)
    for d, a in out["authors"].items():
        print(
            f"{d:5d} {a['rmse_all']:9.3f} {a['rmse_held_out']:9.3f}        ln D = "
            f"{a['formula']}   (authors report RMSE {a['reported']})"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="feature_target.dat")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--sis-size", type=int, default=20)
    parser.add_argument("--no-sisso-cv", action="store_true")
    parser.add_argument(
        "--no-curated",
        action="store_true",
        help="skip the models on the 789 curated rows",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    shared = load_settings().shared_data_dir()
    table = args.table or shared / TABLE_FILE
    authors = dataset(read_table(table).docs)  # every row, file order
    print(
        f"table: {table} ({len(authors.ids)} rows, "
        f"{len(set(authors.groups))} compositions); D in 1e-3 cm^2/s"
    )
    figures: dict = {"authors_rows": model_table(authors, args.n_jobs)}
    print_models("all 792 rows (the authors' data and split)", figures["authors_rows"])
    if not args.no_curated:
        curated = read_shared_table(shared)
        data = dataset(curated.docs)
        figures["curated_rows"] = model_table(data, args.n_jobs)
        print_models(
            f"{len(data.ids)} curated rows ({len(curated.rejects)} rejected as "
            "suspected transcriptions; so the split differs)",
            figures["curated_rows"],
        )
    figures["sisso"] = sisso_report(authors, args.sis_size, not args.no_sisso_cv)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
