"""Documents of trained models and MD runs, from the science results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from pymatgen.core import Composition

from matforge.amorphous.evaluate import SPLIT_DESCRIPTION
from matforge.amorphous.features import Dataset
from matforge.amorphous.meltquench import MeltQuenchResult
from matforge.amorphous.sisso import SparseModel
from matforge.amorphous.train import TrainedModel
from matforge.schemas.amorphous import (
    A2_PS_TO_CM2_S,
    AmorphousMDDoc,
    AmorphousModelDoc,
    ArrheniusFit,
    DiffusivityFit,
    ModelMetrics,
)
from matforge.schemas.common import BuildMeta, content_hash, package_versions

_PACKAGES = ("scikit-learn", "xgboost-cpu", "xgboost", "atomate2", "ase")


def table_hash(data: Dataset) -> str:
    """SHA-1 of the rows a model saw: ids and D."""
    return content_hash([data.ids, [round(float(v), 10) for v in data.d]])


def model_document(
    trained: TrainedModel,
    data: Dataset,
    weights_blob: str | None = None,
    inputs: Sequence[str] = (),
) -> AmorphousModelDoc:
    """Describe a trained RF / XGBoost model (its weights go to the data store)."""
    digest = table_hash(data)
    settings = {"hyperparameters": trained.hyperparameters, "seed": trained.seed}
    return AmorphousModelDoc(
        model_id=AmorphousModelDoc.make_id(
            trained.kind, trained.target, [settings, digest]
        ),
        kind=trained.kind,
        target=trained.target,
        features=list(data.features),
        hyperparameters=trained.hyperparameters,
        seed=trained.seed,
        split=SPLIT_DESCRIPTION,
        metrics=ModelMetrics(
            test_r2=trained.test.r2,
            test_mae=trained.test.mae,
            test_rmse=trained.test.rmse,
            cv_random_rmse=trained.cv_random_rmse,
            cv_grouped_rmse=trained.cv_grouped_rmse,
            n_train=trained.n_train,
            n_test=trained.n_test,
        ),
        feature_importances=trained.importances,
        parity=trained.parity,
        weights_blob=weights_blob,
        table_hash=digest,
        build=BuildMeta(
            inputs=list(inputs),
            settings={
                **settings,
                "scores_in_D": asdict(trained.test_in_d),
                "cv_in_D": trained.cv_in_d,
            },
            versions=package_versions(_PACKAGES),
        ),
    )


def term_shares(model: SparseModel, data: Dataset) -> dict[str, float]:
    """Share of each term in the variance of the fitted ln D (summing to 1)."""
    from matforge.amorphous.predict import term_columns

    columns = term_columns(model.terms, data)
    parts = {
        term: float(np.var(coef * columns[term]))
        for term, coef in zip(model.terms, model.coefficients, strict=True)
    }
    total = sum(parts.values()) or 1.0
    return {term: value / total for term, value in parts.items()}


def sisso_document(
    model: SparseModel,
    data: Dataset,
    held_out: dict[str, Any],
    settings: dict[str, Any],
    inputs: Sequence[str] = (),
) -> AmorphousModelDoc:
    """Describe a SISSO descriptor model of ln D.

    ``held_out`` holds the scores of the same search run on the train split
    and scored on the test split (``DescriptorResult.metrics()``).
    """
    digest = table_hash(data)
    payload = [model.terms, settings, digest]
    return AmorphousModelDoc(
        model_id=AmorphousModelDoc.make_id("sisso", "lnD", payload),
        kind="sisso",
        target="lnD",
        features=list(model.terms),
        hyperparameters=settings,
        seed=int(settings.get("seed", 62)),
        split=SPLIT_DESCRIPTION,
        metrics=ModelMetrics(**held_out),
        feature_importances=term_shares(model, data),
        formula=f"ln D = {model.formula}",
        coefficients=dict(zip(model.terms, model.coefficients, strict=True)),
        intercept=model.intercept,
        table_hash=digest,
        build=BuildMeta(
            inputs=list(inputs),
            settings={
                **settings,
                "rmse_all_rows": model.rmse,
            },
        ),
    )


def md_run_id(
    formula: str,
    potential: str,
    potential_version: str,
    settings: dict[str, Any],
    temperatures: Sequence[float],
    volumes_per_atom: Mapping[float, float] | None,
) -> str:
    """Return the id of a melt-quench run, known before it runs.

    Parameters
    ----------
    formula
        The composition (any spelling).
    potential, potential_version
        The potential's name and version.
    settings
        ``MeltQuenchSettings.as_dict()``.
    temperatures
        Production temperatures (K).
    volumes_per_atom
        The volume per atom at each temperature, or None for the volume search:
        the same composition at other volumes is another run.
    """
    temps = sorted({float(t) for t in temperatures}, reverse=True)
    volumes: str | dict[str, float] = "search"
    if volumes_per_atom is not None:
        volumes = {f"{t:g}": float(volumes_per_atom[t]) for t in temps}
    reduced = Composition(formula).reduced_formula
    digest = content_hash(
        [potential, potential_version, dict(settings), temps, volumes]
    )
    return f"amorph-md-{reduced}-{digest[:10]}"


def md_document(
    result: MeltQuenchResult,
    potential: str,
    potential_version: str,
    trajectory_blobs: Sequence[str | None] | None = None,
    quench_blob: str | None = None,
) -> AmorphousMDDoc:
    """Summarise a melt-quench run; trajectories stay in the data store."""
    blobs = list(trajectory_blobs or [None] * len(result.runs))
    fits = [
        DiffusivityFit(
            temperature=run.temperature,
            mean_temperature=run.mean_temperature,
            diffusivity_cm2_s=run.fit.diffusivity * A2_PS_TO_CM2_S,
            diffusivity_std_cm2_s=run.fit.std_error * A2_PS_TO_CM2_S,
            fit_start_ps=run.fit.fit_start,
            fit_end_ps=run.fit.fit_end,
            slope_std_err_cm2_s=run.fit.slope_std_error * A2_PS_TO_CM2_S,
            n_blocks=run.fit.n_blocks,
            n_li=run.li_positions.shape[1],
            duration_ps=run.duration_ps,
            time_step_fs=result.settings.time_step_fs,
            wall_s=run.wall_s,
            trajectory_blob=blob,
        )
        for run, blob in zip(result.runs, blobs, strict=True)
    ]
    arr = result.arrhenius
    settings = result.settings.as_dict()
    volumes = (
        None
        if result.volume_search
        else {r.temperature: r.volume_per_atom for r in result.runs}
    )
    return AmorphousMDDoc(
        md_id=md_run_id(
            result.formula,
            potential,
            potential_version,
            settings,
            [r.temperature for r in result.runs],
            volumes,
        ),
        formula=result.formula,
        n_atoms=result.n_atoms,
        potential=potential,
        potential_version=potential_version,
        seed=result.settings.seed,
        settings={
            **settings,
            "volume_search": result.volume_search,
            "melt_wall_s": result.melt_wall_s,
        },
        volumes_per_atom={f"{r.temperature:g}": r.volume_per_atom for r in result.runs},
        fits=fits,
        arrhenius=None
        if arr is None
        else ArrheniusFit(
            ea_ev=arr.ea,
            ea_std_ev=arr.ea_std,
            d0_cm2_s=arr.d0 * A2_PS_TO_CM2_S,
            ln_d0_std=arr.ln_d0_std,
            temperatures=[r.fit_temperature for r in result.runs],
            weighted=arr.weighted,
        ),
        quench_structure_blob=quench_blob,
        wall_s_per_ps=result.wall_s_per_ps,
        build=BuildMeta(
            settings=settings,
            versions=package_versions(_PACKAGES),
        ),
    )
