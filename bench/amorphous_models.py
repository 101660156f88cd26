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

import numpy as np
from tqdm import tqdm

from matforge.amorphous.arrhenius import inverse_kt
from matforge.amorphous.evaluate import authors_split, fold_rmse, out_of_fold
from matforge.amorphous.features import Dataset, dataset
from matforge.amorphous.sisso import (
    FeatureSpace,
    build_feature_space,
    fit_terms,
    sisso,
)
from matforge.amorphous.train import train_model
from matforge.data.amorphous import TABLE_FILE, read_shared_table, read_table
from matforge.schemas.amorphous import DESCRIPTOR_NAMES
from matforge.settings import load_settings

AUTHORS = {  # model, target -> R^2, MAE, RMSE, CV RMSE (D in the table's unit)
    ("random_forest", "D"): (0.955, 0.084, 0.120, 0.141),
    ("xgboost", "D"): (0.971, 0.070, 0.096, 0.123),
}
AUTHORS_SISSO = {
    3: (("1/kT", "LNC", "Li_percentage"), 0.397),
    4: (("1/kT", "LNC", "LLB", "PF"), 0.365),
}


def primaries(data: Dataset) -> tuple[np.ndarray, list[str]]:
    """1/kT and the 42 descriptors: the primary features of SISSO."""
    cols = [inverse_kt(data.column("temperature"))]
    cols += [data.column(name) for name in DESCRIPTOR_NAMES]
    return np.column_stack(cols), ["1/kT", *DESCRIPTOR_NAMES]


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
    x, names = primaries(data)
    y = data.ln_d
    space = build_feature_space(x, names)
    print(
        f"\nSISSO for ln D: {len(space.names)} candidate features from "
        f"{len(names)} primaries (x, 1/x, x^2, sqrt, log; products, ratios); "
        f"SIS {sis_size} per dimension"
    )
    start = time.perf_counter()
    models = sisso(space, y, max_terms=4, sis_size=sis_size)
    search_s = time.perf_counter() - start
    train, test = authors_split(len(y))
    sub = FeatureSpace(space.names, space.values[train])
    held = sisso(sub, y[train], max_terms=4, sis_size=sis_size)
    out: dict = {"search_seconds": search_s, "models": []}
    for d, (model, held_model) in enumerate(zip(models, held, strict=True), 1):
        test_pred = held_model.predict(FeatureSpace(space.names, space.values[test]))
        held_rmse = float(np.sqrt(np.mean((test_pred - y[test]) ** 2)))
        out["models"].append(
            {
                "terms": d,
                "formula": model.formula,
                "rmse_all": model.rmse,
                "rmse_held_out": held_rmse,
                "held_out_terms": held_model.terms,
            }
        )
    if grouped_cv:

        def fit(xt: np.ndarray, yt: np.ndarray, d: int):
            s = FeatureSpace(space.names, xt)
            m = sisso(s, yt, max_terms=d, sis_size=sis_size)[-1]
            return lambda xe: m.predict(FeatureSpace(space.names, xe))

        for entry in tqdm(out["models"], desc="SISSO grouped CV", leave=False):
            d = entry["terms"]
            pred, fold = out_of_fold(
                lambda a, b, d=d: fit(a, b, d), space.values, y, groups=data.groups
            )
            entry["cv_grouped"] = fold_rmse(y, pred, fold)
    print(
        f"{'terms':>5s} {'RMSE all':>9s} {'held out':>9s} {'CVgrp':>7s}  formula "
        f"(ln D, D in 1e-3 cm^2/s; fitted on all rows)"
    )
    for e in out["models"]:
        cv = f"{e['cv_grouped']:7.3f}" if "cv_grouped" in e else "      -"
        print(
            f"{e['terms']:5d} {e['rmse_all']:9.3f} {e['rmse_held_out']:9.3f} {cv}  "
            f"ln D = {e['formula']}"
        )
    print(
        "authors' descriptors, refitted here (least squares on all rows / "
        "train -> test):"
    )
    for d, (terms, reported) in AUTHORS_SISSO.items():
        cols = [space.names.index(t) for t in terms]
        all_fit = fit_terms(space.values[:, cols], y, terms)
        part = fit_terms(space.values[np.ix_(train, cols)], y[train], terms)
        pred = part.intercept + space.values[np.ix_(test, cols)] @ np.array(
            part.coefficients
        )
        held_rmse = float(np.sqrt(np.mean((pred - y[test]) ** 2)))
        out[f"authors_{d}"] = {
            "rmse_all": all_fit.rmse,
            "rmse_held_out": held_rmse,
            "reported": reported,
            "formula": all_fit.formula,
        }
        print(
            f"{d:5d} {all_fit.rmse:9.3f} {held_rmse:9.3f}        ln D = "
            f"{all_fit.formula}   (authors report RMSE {reported})"
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
