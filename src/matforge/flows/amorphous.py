"""The second campaign's stages: the diffusivity table, its models, melt-quench MD.

The science is in :mod:`matforge.amorphous`, the table reader in
:mod:`matforge.data.amorphous`, every query and write in
:mod:`matforge.stores.amorphous`. Here each step is one library call of the
command line (``matforge amorphous ingest | train | predict | simulate |
report``) and, wrapped in a Maker, one job of :func:`amorphous_flow`:

ingest the table -> train the models (RF, XGBoost for D and ln D; SISSO for
ln D) and, beside it, one melt-quench MD job per composition -> the report.

A composition's MD segments (melt, quench, production at every temperature)
run inside its one job, through the calculator handed to
:func:`~matforge.amorphous.meltquench.run_melt_quench`, so no atomate2 task
document with a trajectory reaches the database: trajectories go to the data
store (:func:`~matforge.stores.amorphous.save_md`), the document keeps D(T),
its fit windows and errors and the Arrhenius fit.

Every step is idempotent: table rows and models upsert by content, and an MD
run whose id (composition, potential, settings, temperatures, volumes) is
stored already is returned instead of run again, so a flow run again resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Flow, Maker

from matforge.errors import DataNotFoundError, MatforgeError
from matforge.flows.stage import (
    MatforgeMaker,
    job_factory,
    job_settings,
    job_uuid,
    run_flow_here,
    stage_job,
)
from matforge.schemas.amorphous import TABLE_D_FACTOR
from matforge.schemas.common import content_hash, utcnow
from matforge.stores.amorphous import (
    TableWrite,
    last_training,
    load_md,
    load_model,
    load_table,
    save_md,
    save_model,
    save_training,
    table_entries,
    table_volumes,
    write_table,
)
from matforge.stores.lock import store_writer

if TYPE_CHECKING:
    from matforge.amorphous.features import Dataset
    from matforge.amorphous.meltquench import MeltQuenchSettings
    from matforge.report import ReportResult
    from matforge.schemas.amorphous import AmorphousModelDoc
    from matforge.settings import AmorphousSettings, MatforgeSettings
    from matforge.stores import StoreFactory

KINDS: dict[str, str] = {"rf": "random_forest", "xgb": "xgboost", "sisso": "sisso"}
"""Short names of the model families (``--kind``) and their document ``kind``."""


class AmorphousInputError(MatforgeError):
    """An option or input of the amorphous campaign cannot be used."""


# -- ingest ---------------------------------------------------------------------
@dataclass
class TableIngest:
    """What ingesting the diffusivity table did."""

    path: str
    rows: int
    write: TableWrite
    documents: int

    def as_dict(self) -> dict[str, Any]:
        """Return the summary printed by ``matforge amorphous ingest --json``."""
        return {
            "path": self.path,
            "rows": self.rows,
            **self.write.as_dict(),
            "documents": self.documents,
        }


def ingest_table(
    factory: StoreFactory,
    path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> TableIngest:
    """Read the diffusivity table into ``amorphous_diffusivity`` (idempotent).

    Parameters
    ----------
    factory
        The store factory.
    path
        A file in the table's format; default: the shared data folder's
        ``amorphous_li_diffusivity/feature_target.dat``.
    progress
        Called with the number of rows read.

    Returns
    -------
    TableIngest
        Rows read, documents inserted / updated / unchanged, the rejects with
        their reasons.
    """
    from matforge.data.amorphous import (
        KNOWN_FORMULAS_FILE,
        known_formula_checker,
        read_shared_table,
        read_table,
    )

    shared = factory.settings.shared_data_dir()
    if path is None:
        read = read_shared_table(shared)
    else:
        known = shared / KNOWN_FORMULAS_FILE
        read = read_table(
            path, known_formula_checker(known) if known.is_file() else None
        )
    if progress is not None:
        progress(read.rows)
    with store_writer(factory, "matforge amorphous ingest"):
        written = write_table(factory, read.docs, read.rejects)
    count = factory.store("amorphous_diffusivity").count()
    return TableIngest(read.path, read.rows, written, count)


# -- train ----------------------------------------------------------------------
def _kinds(amorphous: AmorphousSettings, kinds: Sequence[str] | None) -> list[str]:
    if kinds is None:
        return [*amorphous.models, *(["sisso"] if amorphous.sisso else [])]
    out = []
    for kind in kinds:
        if kind == "all":
            out += ["random_forest", "xgboost", "sisso"]
        elif kind in KINDS or kind in KINDS.values():
            out.append(KINDS.get(kind, kind))
        else:
            known = ", ".join([*KINDS, "all"])
            raise AmorphousInputError(f"unknown model kind {kind!r}; known: {known}")
    return list(dict.fromkeys(out))


def _sisso_parity(data: Dataset, result: Any) -> dict[str, list[float]]:
    """Held-out points of a SISSO dimension (searched on the train split)."""
    from matforge.amorphous.descriptors import feature_space
    from matforge.amorphous.evaluate import authors_split
    from matforge.amorphous.sisso import FeatureSpace

    space = feature_space(data)
    _, test = authors_split(len(data.ids))
    pred = result.held_out.predict(FeatureSpace(space.names, space.values[test]))
    return {
        "row": [int(i) for i in test],
        "true": [float(v) for v in data.ln_d[test]],
        "pred": [float(v) for v in pred],
    }


def train_models(
    factory: StoreFactory,
    *,
    kinds: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    seed: int | None = None,
    cv: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[AmorphousModelDoc]:
    """Train, score and store the diffusivity models on the stored table.

    Parameters
    ----------
    factory
        The store factory (table in; ``models`` and the data store out).
    kinds
        ``rf``, ``xgb``, ``sisso`` or ``all`` (default: ``amorphous.models``,
        and SISSO when ``amorphous.sisso``).
    targets
        ``D`` and / or ``lnD`` of the random forest and XGBoost models
        (``amorphous.targets``); SISSO always models ln D.
    seed
        Seed of the split, folds and models (``amorphous.seed``).
    cv
        Also score by random and grouped 5-fold CV (``amorphous.cv``).
    progress
        Called with the number of models finished.

    Returns
    -------
    list[AmorphousModelDoc]
        The stored documents, in training order; their ids are recorded as
        the last training (:func:`~matforge.stores.amorphous.save_training`).
    """
    from matforge.amorphous.descriptors import search_descriptors
    from matforge.amorphous.documents import model_document, sisso_document
    from matforge.amorphous.features import dataset
    from matforge.amorphous.train import train_model
    from matforge.settings import cpu_threads

    am = factory.settings.amorphous
    families = _kinds(am, kinds)
    wanted = list(targets) if targets is not None else list(am.targets)
    bad = [t for t in wanted if t not in ("D", "lnD")]
    if bad:
        raise AmorphousInputError(f"unknown target {bad[0]!r}; known: D, lnD")
    if families == ["sisso"] and wanted == ["D"]:
        raise AmorphousInputError("SISSO models ln D only: use --target lnD")
    seed = am.seed if seed is None else seed
    cv = am.cv if cv is None else cv
    done = progress or (lambda _n: None)
    data = dataset(load_table(factory))
    inputs = ["amorphous_diffusivity"]
    threads = cpu_threads(am.threads)
    docs: list[AmorphousModelDoc] = []
    with store_writer(factory, "matforge amorphous train"):
        for kind in (k for k in families if k != "sisso"):
            params = am.forest if kind == "random_forest" else am.xgboost
            for target in wanted:
                trained = train_model(
                    data, kind, target, seed, cv=cv, n_jobs=threads, params=params
                )
                doc = model_document(trained, data, inputs=inputs)
                save_model(factory, doc, trained.weights)
                docs.append(doc)
                done(1)
        if "sisso" in families:
            results = search_descriptors(
                data, am.max_terms, am.sis_size, grouped_cv=am.sisso_grouped_cv
            )
            for result in results:
                settings = {
                    "max_terms": am.max_terms,
                    "sis_size": am.sis_size,
                    "terms": len(result.model.terms),
                    "seed": seed,
                }
                doc = sisso_document(
                    result.model, data, result.metrics(), settings, inputs
                ).model_copy(update={"parity": _sisso_parity(data, result)})
                save_model(factory, doc, None)
                docs.append(doc)
                done(1)
        save_training(
            factory,
            {
                "model_ids": [d.model_id for d in docs],
                "seed": seed,
                "cv": cv,
                "date": utcnow().isoformat(),
            },
        )
    return docs


# -- predict --------------------------------------------------------------------
def _default_model(factory: StoreFactory) -> str:
    record = last_training(factory)
    if not record or not record.get("model_ids"):
        raise DataNotFoundError(
            "no trained amorphous model: run `matforge amorphous train` or name one "
            "with --model"
        )
    return str(record["model_ids"][0])


def _rows_of(
    factory: StoreFactory,
    formula: str | None,
    temperatures: Sequence[float],
    path: str | Path | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Return the rows to predict (table documents or a file's) and rejects."""
    if (formula is None) == (path is None):
        raise AmorphousInputError("give a formula or a file of table rows, not both")
    if path is not None:
        from matforge.data.amorphous import read_table

        read = read_table(path)
        rejects = [{"input": r.input, "reason": r.reason} for r in read.rejects]
        if not read.docs:
            raise AmorphousInputError(
                f"{path}: no usable row ({len(rejects)} rejected"
                + (f"; first: {rejects[0]['reason']}" if rejects else "")
                + ")"
            )
        return [d.model_dump() for d in read.docs], rejects
    assert formula is not None
    try:
        rows = table_entries(factory, formula)
    except ValueError as exc:
        raise AmorphousInputError(f"cannot read formula {formula!r}: {exc}") from None
    if not rows:
        raise AmorphousInputError(
            f"{formula} is not in the amorphous_diffusivity table (models need its "
            "42 AIMD descriptors): run `matforge amorphous ingest`, or predict from "
            "a file of rows in the table's format with --file"
        )
    if temperatures:
        have = {float(r["temperature"]) for r in rows}
        missing = sorted({float(t) for t in temperatures} - have)
        if missing:
            raise AmorphousInputError(
                f"{formula} has no table row at {', '.join(f'{t:g}' for t in missing)}"
                f" K (the descriptors are those of the AIMD cell at each "
                f"temperature); it has {', '.join(f'{t:g}' for t in sorted(have))} K"
            )
        wanted = {float(t) for t in temperatures}
        rows = [r for r in rows if float(r["temperature"]) in wanted]
    return rows, []


def predict_diffusivity(
    factory: StoreFactory,
    model_id: str | None = None,
    *,
    formula: str | None = None,
    temperatures: Sequence[float] = (),
    path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Predict Li D with a stored model, beside the table's AIMD value.

    Parameters
    ----------
    factory
        The store factory.
    model_id
        The model (default: the first of the last training).
    formula, temperatures
        A composition of the table and some of its temperatures (all when
        empty).
    path
        Or a file of rows in the table's format (its 42 descriptors).
    progress
        Called with the number of rows predicted.

    Returns
    -------
    dict
        ``model_id``, ``kind``, ``target``, ``rows`` (``entry_id``, ``formula``,
        ``temperature``, ``predicted_cm2_s``, ``aimd_cm2_s``, ``ratio``,
        ``held_out``: whether a table row was in the model's held-out split,
        False when the model was fitted on it; None when not known) and the
        file's ``rejected`` rows.
    """
    from matforge.amorphous.features import dataset
    from matforge.amorphous.predict import model_predictor

    model_id = model_id or _default_model(factory)
    doc, weights = load_model(factory, model_id)
    rows, rejects = _rows_of(factory, formula, temperatures, path)
    try:
        predicted = model_predictor(doc, weights)(dataset(rows)) * TABLE_D_FACTOR
    except ValueError as exc:
        raise AmorphousInputError(f"model {model_id}: {exc}") from None
    if progress is not None:
        progress(len(rows))
    held_out: set[str] | None = None
    if path is None and doc.get("parity"):
        order = [d["entry_id"] for d in load_table(factory)]
        held_out = {order[int(i)] for i in doc["parity"]["row"] if int(i) < len(order)}
    out = []
    for row, value in zip(rows, predicted, strict=True):
        aimd = float(row["diffusivity_cm2_s"])
        out.append(
            {
                "entry_id": row["entry_id"],
                "formula": row["formula"],
                "temperature": float(row["temperature"]),
                "predicted_cm2_s": float(value),
                "aimd_cm2_s": aimd,
                "ratio": float(value) / aimd if aimd > 0 else None,
                "held_out": None if held_out is None else row["entry_id"] in held_out,
            }
        )
    return {
        "model_id": model_id,
        "kind": doc["kind"],
        "target": doc["target"],
        "rows": out,
        "rejected": rejects,
    }


# -- simulate -------------------------------------------------------------------
def melt_quench_settings(
    amorphous: AmorphousSettings,
    *,
    target_atoms: int | None = None,
    production_ps: float | None = None,
    time_step_fs: float | None = None,
) -> MeltQuenchSettings:
    """Return the MD settings of ``amorphous.md`` with a command's overrides.

    Raises
    ------
    AmorphousInputError
        If the settings cannot make a run (too few frames, say).
    """
    from matforge.amorphous.meltquench import MeltQuenchSettings

    values = amorphous.md.model_dump() | {"seed": amorphous.seed}
    if target_atoms is not None:
        values["target_atoms"] = target_atoms
    if time_step_fs is not None:
        values["time_step_fs"] = time_step_fs
    if production_ps is not None:
        values["production_steps"] = max(
            1, round(production_ps * 1000.0 / values["time_step_fs"])
        )
    values["volume_search_scales"] = tuple(values["volume_search_scales"])
    try:
        return MeltQuenchSettings(**values)
    except ValueError as exc:
        raise AmorphousInputError(f"melt-quench settings: {exc}") from None


def volumes_at(
    table: dict[float, float], temperatures: Sequence[float]
) -> dict[float, float]:
    """Return the table's volume per atom at each temperature.

    Linear in T between the table's temperatures, held at the nearest end
    outside them (``amorphous.volume: table``).
    """
    known = sorted(table)
    return {
        float(t): float(np.interp(t, known, [table[k] for k in known]))
        for t in temperatures
    }


@dataclass
class Simulation:
    """A melt-quench run's stored summary, and whether it was stored before."""

    doc: dict[str, Any]
    reused: bool
    volume_source: str
    """``table``, ``search`` or ``search (not in the table)``."""

    def as_dict(self) -> dict[str, Any]:
        """Return what ``matforge amorphous simulate --json`` prints."""
        return {
            "reused": self.reused,
            "volume_source": self.volume_source,
            **md_summary(self.doc),
        }


def md_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Return the small summary of an MD document (a job's output)."""
    arrhenius = doc.get("arrhenius") or {}
    return {
        "md_id": doc["md_id"],
        "formula": doc["formula"],
        "n_atoms": doc["n_atoms"],
        "potential": doc["potential"],
        "fits": [
            {
                "temperature": f["temperature"],
                "mean_temperature": f.get("mean_temperature"),
                "diffusivity_cm2_s": f["diffusivity_cm2_s"],
                "diffusivity_std_cm2_s": f["diffusivity_std_cm2_s"],
                "fit_window_ps": [f["fit_start_ps"], f["fit_end_ps"]],
                "trajectory_blob": f.get("trajectory_blob"),
            }
            for f in doc["fits"]
        ],
        "ea_ev": arrhenius.get("ea_ev"),
        "ea_std_ev": arrhenius.get("ea_std_ev"),
        "wall_s_per_ps": doc["wall_s_per_ps"],
    }


def simulate_composition(
    factory: StoreFactory,
    formula: str,
    temperatures: Sequence[float] | None = None,
    *,
    potential: str | None = None,
    model_path: str | None = None,
    target_atoms: int | None = None,
    production_ps: float | None = None,
    time_step_fs: float | None = None,
    volume_search: bool = False,
    threads: int | None = None,
    rerun: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Simulation:
    """Melt-quench MD of a composition with an ML potential; D(T) and Ea stored.

    Parameters
    ----------
    factory
        The store factory (table volumes in; ``amorphous_md`` and the data
        store out).
    formula
        The composition; it must hold Li.
    temperatures
        Production temperatures (K; ``amorphous.temperatures``).
    potential, model_path
        The potential (``amorphous.potential``), or a saved matgl folder.
    target_atoms, production_ps, time_step_fs
        Overrides of ``amorphous.md``.
    volume_search
        Search the zero-pressure volume even when the table has the
        composition's AIMD volumes (``amorphous.volume``).
    threads
        CPU threads of the potential (``amorphous.threads``; 0: all).
    rerun
        Run again even when the same run is stored.
    progress
        Called with a line after each MD stage.

    Returns
    -------
    Simulation
        The stored document and where its volumes came from.
    """
    from pymatgen.core import Composition, Element

    from matforge.amorphous.documents import md_document, md_run_id
    from matforge.amorphous.meltquench import run_melt_quench
    from matforge.potentials.registry import (
        load_calculator,
        resolve_potential,
        set_threads,
    )
    from matforge.settings import cpu_threads

    am = factory.settings.amorphous
    try:
        comp = Composition(formula)
        symbols = {el.symbol for el in comp.elements}
    except (ValueError, KeyError) as exc:
        raise AmorphousInputError(f"cannot read formula {formula!r}: {exc}") from None
    unknown = sorted(s for s in symbols if not Element.is_valid_symbol(s))
    if unknown:
        raise AmorphousInputError(
            f"cannot read formula {formula!r}: {', '.join(unknown)} is no element"
        )
    if "Li" not in symbols:
        raise AmorphousInputError(f"{formula} has no Li: nothing to diffuse")
    temps = sorted({float(t) for t in (temperatures or am.temperatures)}, reverse=True)
    if temps[-1] <= 0:
        raise AmorphousInputError(f"temperatures must be positive (K), got {temps}")
    settings = melt_quench_settings(
        am,
        target_atoms=target_atoms,
        production_ps=production_ps,
        time_step_fs=time_step_fs,
    )
    spec = resolve_potential(potential or am.potential, model_path)
    volumes: dict[float, float] | None = None
    source = "search"
    if not volume_search and am.volume == "table":
        table = table_volumes(factory, formula)
        if table:
            volumes, source = volumes_at(table, temps), "table"
        else:
            source = "search (not in the table)"
    md_id = md_run_id(
        formula, spec.name, spec.version, settings.as_dict(), temps, volumes
    )
    stored = load_md(factory, md_id)
    if stored is not None and not rerun:
        return Simulation(stored, True, source)
    n_threads = cpu_threads(am.threads if threads is None else threads)
    set_threads(n_threads)
    calculator = load_calculator(spec, n_threads)
    result = run_melt_quench(comp, calculator, temps, volumes, settings, progress)
    doc = md_document(result, spec.name, spec.version)
    with store_writer(factory, f"matforge amorphous simulate {formula}"):
        save_md(
            factory,
            doc,
            [run.to_npz() for run in result.runs],
            result.quenched.as_dict(),
        )
    saved = load_md(factory, doc.md_id)
    assert saved is not None
    return Simulation(saved, False, source)


# -- report ---------------------------------------------------------------------
def amorphous_report(
    factory: StoreFactory, out_dir: str | Path | None = None
) -> ReportResult:
    """Write the campaign's report (default folder ``<home>/reports/amorphous``)."""
    from matforge.report.amorphous import write_amorphous_report

    folder = out_dir or factory.settings.home_dir / "reports" / "amorphous"
    return write_amorphous_report(factory, folder)


# -- Makers and the flow --------------------------------------------------------
@dataclass
class AmorphousIngestMaker(MatforgeMaker):
    """Ingest the diffusivity table (``path``: a file; default: the shared one)."""

    name: str = "amorphous ingest"
    path: str | None = None

    @stage_job
    def make(self) -> dict[str, Any]:
        """Ingest; return the summary."""
        with job_factory(self.settings, "amorphous ingest", write=False) as factory:
            return ingest_table(factory, self.path).as_dict()


@dataclass
class AmorphousTrainMaker(MatforgeMaker):
    """Train, score and store the models of D and ln D.

    Parameters
    ----------
    kinds, targets
        As :func:`train_models` (None: the settings').
    """

    name: str = "amorphous train"
    kinds: list[str] | None = None
    targets: list[str] | None = None

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train after ``upstream`` (the ingest); return the ids and scores."""
        with job_factory(self.settings, "amorphous train", write=False) as factory:
            docs = train_models(factory, kinds=self.kinds, targets=self.targets)
        return {
            "model_ids": [d.model_id for d in docs],
            "test_rmse": {d.model_id: d.metrics.test_rmse for d in docs},
        }


@dataclass
class MeltQuenchMaker(MatforgeMaker):
    """Melt-quench MD of one composition; all its segments in this one job.

    Parameters
    ----------
    formula
        The composition.
    temperatures
        Production temperatures (K; None: ``amorphous.temperatures``).
    potential
        Name or matgl folder (None: ``amorphous.potential``).
    """

    name: str = "melt-quench md"
    formula: str = ""
    temperatures: list[float] | None = None
    potential: str | None = None

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run (or find) the MD after ``upstream``; return its summary."""
        if not self.formula:
            raise AmorphousInputError("a melt-quench job needs a formula")
        command = f"melt-quench md of {self.formula}"
        with job_factory(self.settings, command, write=False) as factory:
            run = simulate_composition(
                factory, self.formula, self.temperatures, potential=self.potential
            )
        return run.as_dict()


@dataclass
class AmorphousReportMaker(MatforgeMaker):
    """Write the campaign's report after the models and MD runs."""

    name: str = "amorphous report"

    @stage_job
    def make(self, upstream: Any = None) -> dict[str, Any]:
        """Write the report; return its folder and files."""
        with job_factory(self.settings, "amorphous report", write=False) as factory:
            result = amorphous_report(factory)
        return {
            "folder": str(result.files[0].parent) if result.files else None,
            "files": [p.name for p in result.files],
        }


@dataclass
class AmorphousFlowMaker(Maker):
    """Compose ingest, training, one MD job per composition and the report.

    Parameters
    ----------
    name
        Name of the flow.
    run_id
        The campaign (fixes the job ids, so a re-run replaces its job outputs).
    settings
        Science settings of every job.
    compositions
        Formulas of the melt-quench MD jobs.
    temperatures, potential
        Of the MD (None: the settings').
    train, report
        Add the training job, the report job.
    """

    name: str = "matforge amorphous"
    run_id: str = "amorphous"
    settings: dict[str, Any] = field(default_factory=dict)
    compositions: list[str] = field(default_factory=list)
    temperatures: list[float] | None = None
    potential: str | None = None
    train: bool = True
    report: bool = True

    def make(self) -> Flow:
        """Return the flow; training and the MD jobs wait for the ingest.

        Returns
        -------
        jobflow.Flow
            Its output: ``{ingest, train, md: {formula: summary}, report}``.
        """
        ingest = AmorphousIngestMaker(settings=self.settings).make()
        ingest.set_uuid(job_uuid(self.run_id, "ingest"))
        jobs = [ingest]
        output: dict[str, Any] = {"ingest": ingest.output, "train": None, "md": {}}
        if self.train:
            train = AmorphousTrainMaker(settings=self.settings).make(ingest.output)
            train.set_uuid(job_uuid(self.run_id, "train"))
            jobs.append(train)
            output["train"] = train.output
        for formula in dict.fromkeys(self.compositions):
            md = MeltQuenchMaker(
                name=f"melt-quench md {formula}",
                settings=self.settings,
                formula=formula,
                temperatures=self.temperatures,
                potential=self.potential,
            ).make(ingest.output)
            md.set_uuid(job_uuid(self.run_id, f"md/{formula}"))
            jobs.append(md)
            output["md"][formula] = md.output
        if self.report:
            report = AmorphousReportMaker(settings=self.settings).make(
                [job.output for job in jobs[1:]] or ingest.output
            )
            report.set_uuid(job_uuid(self.run_id, "report"))
            jobs.append(report)
            output["report"] = report.output
        return Flow(jobs, output=output, name=f"{self.name} {self.run_id}")


def amorphous_flow(
    settings: MatforgeSettings,
    compositions: Sequence[str] = (),
    *,
    temperatures: Sequence[float] | None = None,
    potential: str | None = None,
    train: bool = True,
) -> tuple[str, Flow]:
    """Return the campaign id and the flow of the amorphous campaign.

    The id is a hash of what shapes it (the ``amorphous`` settings, the
    compositions, temperatures and potential): the same campaign gets the same
    job ids.
    """
    temps = None if temperatures is None else [float(t) for t in temperatures]
    shaping = {
        "amorphous": settings.amorphous.model_dump(mode="json"),
        "compositions": list(compositions),
        "temperatures": temps,
        "potential": potential,
        "train": train,
    }
    run_id = "amorph-run-" + content_hash(shaping)[:12]
    maker = AmorphousFlowMaker(
        run_id=run_id,
        settings=job_settings(settings),
        compositions=list(compositions),
        temperatures=temps,
        potential=potential,
        train=train,
    )
    return run_id, maker.make()


def run_amorphous(
    settings: MatforgeSettings,
    compositions: Sequence[str] = (),
    *,
    temperatures: Sequence[float] | None = None,
    potential: str | None = None,
    train: bool = True,
) -> dict[str, Any]:
    """Run the amorphous flow in this process (jobflow's ``run_locally``).

    Returns
    -------
    dict
        ``run_id``, ``seconds`` and the flow's output (``ingest``, ``train``,
        ``md`` by formula, ``report``).
    """
    from matforge.stores import StoreFactory

    start = time.perf_counter()
    with (
        StoreFactory(settings) as factory,
        store_writer(factory, "matforge amorphous run"),
    ):
        run_id, flow = amorphous_flow(
            settings,
            compositions,
            temperatures=temperatures,
            potential=potential,
            train=train,
        )
        outputs = run_flow_here(flow, factory)
    md = {
        f: outputs.get(job_uuid(run_id, f"md/{f}")) for f in dict.fromkeys(compositions)
    }
    return {
        "run_id": run_id,
        "ingest": outputs.get(job_uuid(run_id, "ingest")),
        "train": outputs.get(job_uuid(run_id, "train")),
        "md": md,
        "report": outputs.get(job_uuid(run_id, "report")),
        "seconds": time.perf_counter() - start,
    }
