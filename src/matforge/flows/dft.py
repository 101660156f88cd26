"""The DFT validation stage: the top candidates -> dft_tasks -> candidates.

The science is in :mod:`matforge.dft`; here the stage reads the ranked
candidates, computes what is missing (elemental references first, cached in
``dft_tasks`` and reused by every later run with the same settings), stores
one ``dft_tasks`` document per calculation and runs the candidates builder,
which joins the DFT formation energies into the candidates table.

Resumable and idempotent: every finished calculation is stored at once, and a
candidate validated with the same settings (same task id: settings hash,
relaxed id and structure) is not computed again. Failed tasks are retried by
the next run.

GPAW runs here (:func:`matforge.dft.runner.run_gpaw`); with ``code = "vasp"``
the stage builds atomate2 VASP flows for a cluster instead (see
:mod:`matforge.dft.vasp`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from jobflow import job
from pymatgen.core import Element, Structure

from matforge.dft.formation import reference_setup, squared_error
from matforge.dft.gpaw import DftError, gpaw_version, require_gpaw
from matforge.dft.runner import DftCalcResult, DftCalculation, run_gpaw
from matforge.dft.tasks import (
    candidate_task_id,
    reference_task_id,
    settings_hash,
    task_document,
)
from matforge.flows.stages import StageMaker, execute_stage
from matforge.potentials.formation import REFERENCES_FILE, read_elemental_references
from matforge.schemas.common import BuildMeta
from matforge.schemas.dft import DftTaskDoc, ReferenceUse
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from matforge.settings import DftSettings, MatforgeSettings
    from matforge.stores import StoreFactory

logger = logging.getLogger(__name__)

Runner = Callable[[DftCalculation], DftCalcResult]
"""Runs one DFT calculation (GPAW in a subprocess; tests pass a fake)."""

CANDIDATE_FIELDS = (
    "candidate_id",
    "relaxed_id",
    "formula",
    "structure",
    "formation_energy_per_atom",
    "storage_score",
)


def dft_params(settings: MatforgeSettings, code: str | None = None) -> DftSettings:
    """Return the ``dft`` settings, with another code if one is named."""
    params = settings.dft
    if code is not None and code != params.code:
        params = params.model_copy(update={"code": code})
    return params


def gpaw_runner(settings: MatforgeSettings, params: DftSettings) -> Runner:
    """Return a runner of GPAW calculations in ``<home>/dft``."""
    require_gpaw()
    return partial(run_gpaw, settings=params, root=settings.home_dir / "dft")


def store_task(factory: StoreFactory, doc: DftTaskDoc) -> None:
    """Write one task into ``dft_tasks`` (replacing an older one of its id)."""
    upsert_documents(
        factory.store("dft_tasks"),
        [doc.model_dump()],
        "task_id",
        hash_field="last_updated",
    )


def compute_task(
    factory: StoreFactory,
    runner: Runner,
    structure: Structure,
    task_id: str,
    params: DftSettings,
    **fields: Any,
) -> DftTaskDoc:
    """Run one calculation of a compound, store its task document and return it.

    ``fields`` go to :func:`~matforge.dft.tasks.task_document` (``purpose``,
    ``code_version``, ``hash_``, ``references``, ``predicted``, ids, ``build``).
    """
    result = runner(
        DftCalculation(
            structure=structure,
            label=task_id,
            relax=params.relax,
            relax_cell=params.relax_cell,
        )
    )
    task = task_document(
        result,
        task_id=task_id,
        code=params.code,
        input_structure=structure,
        relaxed=params.relax,
        **fields,
    )
    store_task(factory, task)
    return task


def successful_tasks(factory: StoreFactory, task_ids: Sequence[str]) -> dict[str, dict]:
    """Return the successful tasks among some ids (without their task_doc)."""
    store = factory.store("dft_tasks")
    wanted = set(task_ids)
    fields = [f for f in DftTaskDoc.model_fields if f != "task_doc"]
    found = {}
    for doc in store.query({"state": "successful"}, properties=fields):
        if doc["task_id"] in wanted:
            doc.pop("_id", None)
            found[doc["task_id"]] = doc
    return found


def reference_energies(
    factory: StoreFactory,
    elements: Sequence[str],
    params: DftSettings,
    runner: Runner,
    code_version: str,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ReferenceUse]:
    """Return the DFT reference energies of elements, computing missing ones.

    Parameters
    ----------
    factory
        The store factory (``dft_tasks``; its settings locate the MP file).
    elements
        The elements wanted.
    params
        The ``dft`` settings.
    runner
        Runs a calculation.
    code_version
        The DFT code's version (part of the settings hash).
    progress
        Called with a line for each reference computed.

    Returns
    -------
    dict
        Element -> reference (task id and energy per atom). Elements whose
        reference failed are left out (their failed task says why).
    """
    hash_ = settings_hash(params, code_version)
    ids = {el: reference_task_id(hash_, el) for el in elements}
    cached = successful_tasks(factory, list(ids.values()))
    found = {
        el: ReferenceUse(task_id=tid, energy_per_atom=cached[tid]["energy_per_atom"])
        for el, tid in ids.items()
        if tid in cached
    }
    missing = [el for el in elements if el not in found]
    if not missing:
        return found
    mp_refs = read_elemental_references(
        factory.settings.shared_data_dir() / REFERENCES_FILE
    )
    build = BuildMeta(
        inputs=[REFERENCES_FILE],
        settings={"dft": params.model_dump(mode="json")},
    )
    for element in sorted(missing, key=lambda s: Element(s).Z):
        setup = reference_setup(element, mp_refs, params)
        if progress is not None:
            progress(f"reference {element} ({len(setup.structure)} atoms)")
        result = runner(
            DftCalculation(
                structure=setup.structure,
                label=ids[element],
                molecule=setup.molecule,
                relax=setup.relax,
                relax_cell=setup.relax_cell,
            )
        )
        doc = task_document(
            result,
            task_id=ids[element],
            purpose="reference",
            code=params.code,
            code_version=code_version,
            hash_=hash_,
            input_structure=setup.structure,
            relaxed=setup.relax,
            element=element,
            material_id=setup.mp_id,
            mp_energy_per_atom=setup.mp_energy_per_atom,
            build=build,
        )
        store_task(factory, doc)
        if doc.state == "successful" and doc.energy_per_atom is not None:
            found[element] = ReferenceUse(
                task_id=doc.task_id, energy_per_atom=doc.energy_per_atom
            )
        else:
            logger.warning("the %s reference failed: %s", element, doc.error)
    return found


@dataclass
class ValidationRow:
    """What the validation did with one candidate."""

    rank: int
    candidate_id: str
    formula: str
    task_id: str
    status: str  # computed, cached or failed
    formation_energy_per_atom: float | None = None
    formation_energy_dft_per_atom: float | None = None
    squared_error: float | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class ValidationSummary:
    """What one run of the validation stage did."""

    code: str
    settings_hash: str
    rows: list[ValidationRow] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Candidates whose validation failed."""
        return sum(row.status == "failed" for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain values (``matforge validate --json``)."""
        return {
            "code": self.code,
            "settings_hash": self.settings_hash,
            "references": dict(self.references),
            "seconds": self.seconds,
            "rows": [asdict(row) for row in self.rows],
        }


def top_candidates(
    factory: StoreFactory, top: int, candidate_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Return the best-ranked ``top`` candidates with their structures.

    With ``candidate_ids`` (a campaign's own ranking, best first), the first
    ``top`` of those candidates, ranked in that order; ids not in the store are
    left out.
    """
    from matforge.stores.queries import ranked_candidates

    if candidate_ids is None:
        return ranked_candidates(
            factory.store("candidates"), top=top, fields=list(CANDIDATE_FIELDS)
        )
    wanted = list(candidate_ids)[:top]
    found = {
        doc["candidate_id"]: doc
        for doc in factory.store("candidates").query(
            {"candidate_id": {"$in": wanted}}, properties=list(CANDIDATE_FIELDS)
        )
    }
    rows = [found[i] for i in wanted if i in found]
    return [row | {"rank": rank} for rank, row in enumerate(rows, start=1)]


def validate_with_runner(
    factory: StoreFactory,
    params: DftSettings,
    runner: Runner,
    code_version: str,
    top: int | None = None,
    progress: Callable[[str], None] | None = None,
    candidate_ids: Sequence[str] | None = None,
) -> ValidationSummary:
    """Validate the top candidates with a DFT runner and join the results.

    Parameters
    ----------
    factory
        The store factory.
    params
        The ``dft`` settings.
    runner
        Runs one calculation (GPAW here; a fake in tests).
    code_version
        The code's version (part of the settings hash).
    top
        Candidates to validate (``params.top_k`` when None).
    progress
        Called with a line before each calculation.
    candidate_ids
        Validate these candidates (a campaign's ranking, best first) instead
        of the collection's overall top.

    Returns
    -------
    ValidationSummary
        One row per candidate, best first.
    """
    from matforge.builders.candidates import build_candidates

    started = time.perf_counter()
    hash_ = settings_hash(params, code_version)
    summary = ValidationSummary(code=params.code, settings_hash=hash_)
    ranked = top_candidates(factory, top or params.top_k, candidate_ids)
    plans = []
    for row in ranked:
        structure = Structure.from_dict(row["structure"])
        task_id = candidate_task_id(hash_, row["relaxed_id"], structure)
        plans.append((row, structure, task_id))
    cached = successful_tasks(factory, [task_id for _, _, task_id in plans])
    todo = [plan for plan in plans if plan[2] not in cached]
    elements = sorted(
        {el.symbol for _, s, _ in todo for el in s.composition},
        key=lambda s: Element(s).Z,
    )
    references = (
        reference_energies(factory, elements, params, runner, code_version, progress)
        if todo
        else {}
    )
    summary.references = {el: ref.task_id for el, ref in references.items()}
    build = BuildMeta(
        inputs=["candidates", "dft_tasks"],
        settings={"dft": params.model_dump(mode="json")},
    )
    for row, structure, task_id in plans:
        predicted = row.get("formation_energy_per_atom")
        line = ValidationRow(
            rank=row["rank"],
            candidate_id=row["candidate_id"],
            formula=row["formula"],
            task_id=task_id,
            status="cached",
            formation_energy_per_atom=predicted,
        )
        if task_id in cached:
            doc = cached[task_id]
            line.formation_energy_dft_per_atom = doc["formation_energy_per_atom"]
            line.seconds = float(doc.get("seconds") or 0.0)
        else:
            if progress is not None:
                progress(f"{row['formula']} ({len(structure)} atoms)")
            task = compute_task(
                factory,
                runner,
                structure,
                task_id,
                params,
                purpose="candidate",
                code_version=code_version,
                hash_=hash_,
                references=references,
                predicted=predicted,
                candidate_id=row["candidate_id"],
                relaxed_id=row["relaxed_id"],
                build=build,
            )
            line.status = "computed" if task.state == "successful" else "failed"
            line.formation_energy_dft_per_atom = task.formation_energy_per_atom
            line.seconds = task.seconds
            line.error = task.error
        line.squared_error = squared_error(
            predicted, line.formation_energy_dft_per_atom
        )
        summary.rows.append(line)
    build_candidates(factory)
    summary.seconds = time.perf_counter() - started
    return summary


def validate_candidates(
    factory: StoreFactory,
    *,
    top: int | None = None,
    code: str | None = None,
    runner: Runner | None = None,
    progress: Callable[[str], None] | None = None,
    candidate_ids: Sequence[str] | None = None,
) -> ValidationSummary:
    """Validate the top candidates with GPAW here (the ``validate`` command).

    Parameters
    ----------
    factory
        The store factory.
    top
        Candidates to validate (``dft.top_k`` when None).
    code
        ``gpaw`` (the settings' code when None).
    runner
        Runs a calculation (GPAW in a subprocess when None).
    progress
        Called with a line before each calculation.
    candidate_ids
        A campaign's ranked candidate ids (the overall top when None).

    Returns
    -------
    ValidationSummary
        One row per candidate.

    Raises
    ------
    DftError
        If the code is VASP (see :func:`plan_vasp_validation`) or GPAW is missing.
    """
    params = dft_params(factory.settings, code)
    if params.code != "gpaw":
        raise DftError(
            "VASP does not run here: build its workflow with "
            "`matforge validate --code vasp` (plan_vasp_validation)"
        )
    if runner is None:
        runner = gpaw_runner(factory.settings, params)
    return validate_with_runner(
        factory,
        params,
        runner,
        gpaw_version(),
        top=top,
        progress=progress,
        candidate_ids=candidate_ids,
    )


def dft_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Validate the campaign's top ``dft.top_k`` candidates (the flow's stage).

    Raises
    ------
    StageUnavailableError
        If the DFT code is not installed here (the stage is optional).
    """
    from matforge.flows.relax import StageUnavailableError

    ids = list((upstream or {}).get("top_ids", []))
    try:
        summary = validate_candidates(
            factory, top=settings.dft.top_k, candidate_ids=ids
        )
    except DftError as exc:
        raise StageUnavailableError(
            f"DFT validation (run.dft_validation): {exc}; or set "
            "run.dft_validation to false"
        ) from exc
    out = summary.as_dict()
    return {
        "validated": [row["candidate_id"] for row in out["rows"]],
        "computed": sum(row["status"] == "computed" for row in out["rows"]),
        "failed": summary.failed,
        "settings_hash": summary.settings_hash,
    }


def _dft_key(settings: MatforgeSettings) -> dict[str, Any]:
    params = settings.dft
    return {
        "dft": params.model_dump(mode="json", exclude={"mpi_processes", "timeout_s"}),
        "code_version": gpaw_version() if params.code == "gpaw" else params.code,
    }


@dataclass
class DFTValidationMaker(StageMaker):
    """DFT validation of a campaign's top candidates (the flow's optional stage).

    Runs :func:`dft_stage` once per content hash (the ``dft`` settings and the
    code's version): GPAW here, every calculation stored in ``dft_tasks`` and
    the candidates rebuilt with E_form DFT and the squared error.
    """

    name: str = "dft validation"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(self, "dft", _dft_key, dft_stage, upstream)


# -- VASP on a cluster ---------------------------------------------------------
@dataclass
class VaspPlan:
    """The VASP flows one ``validate --code vasp`` run builds."""

    settings_hash: str
    flows: list[Any] = field(default_factory=list)
    tasks: list[DftTaskDoc] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)

    def workflow(self, name: str = "matforge dft validation") -> Any:
        """Return the FireWorks workflow of every flow (None when nothing to run)."""
        from matforge.dft.vasp import validation_workflow

        return validation_workflow(self.flows, name) if self.flows else None

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as plain values (``validate --code vasp --json``)."""
        return {
            "code": "vasp",
            "settings_hash": self.settings_hash,
            "submitted": [
                {
                    "task_id": t.task_id,
                    "purpose": t.purpose,
                    "formula": t.formula,
                    "candidate_id": t.candidate_id,
                    "element": t.element,
                }
                for t in self.tasks
            ],
            "cached": list(self.cached),
        }


def _placeholder(
    structure: Structure, tag: dict[str, Any], version: str, build: BuildMeta
) -> DftTaskDoc:
    comp = structure.composition
    return DftTaskDoc(
        task_id=tag["task_id"],
        purpose=tag["purpose"],
        code="vasp",
        code_version=version,
        settings_hash=tag["settings_hash"],
        state="submitted",
        candidate_id=tag.get("candidate_id"),
        relaxed_id=tag.get("relaxed_id"),
        element=tag.get("element"),
        material_id=tag.get("material_id"),
        predicted_formation_energy_per_atom=tag.get("predicted"),
        formula=comp.formula.replace(" ", ""),
        reduced_formula=comp.reduced_formula,
        nsites=len(structure),
        input_structure=structure,
        relaxed=True,
        converged=False,
        build=build,
    )


def plan_vasp_validation(
    factory: StoreFactory, top: int | None = None, resubmit: bool = False
) -> VaspPlan:
    """Build atomate2 VASP flows for the top candidates and missing references.

    Tasks already successful are left out, and so are those submitted before
    unless ``resubmit``. A ``submitted`` placeholder is stored for each task
    planned, so a second run does not plan it again.

    Parameters
    ----------
    factory
        The store factory.
    top
        Candidates to validate (``dft.top_k`` when None).
    resubmit
        Plan submitted (unfinished) tasks again.

    Returns
    -------
    VaspPlan
        The flows and their tasks; ``plan.workflow()`` is the FireWorks workflow.
    """
    from matforge.dft.vasp import atomate2_version, vasp_flow

    params = dft_params(factory.settings, "vasp")
    version = atomate2_version()
    hash_ = settings_hash(params, version)
    plan = VaspPlan(settings_hash=hash_)
    store = factory.store("dft_tasks")
    states = {
        d["task_id"]: d.get("state")
        for d in store.query({"settings_hash": hash_}, properties=["task_id", "state"])
    }

    def wanted(task_id: str) -> bool:
        state = states.get(task_id)
        if state == "successful":
            plan.cached.append(task_id)
            return False
        return state != "submitted" or resubmit

    build = BuildMeta(
        inputs=["candidates", REFERENCES_FILE],
        settings={"dft": params.model_dump(mode="json")},
    )
    items: list[tuple[Structure, dict[str, Any], str]] = []
    elements: set[str] = set()
    for row in top_candidates(factory, top or params.top_k):
        structure = Structure.from_dict(row["structure"])
        task_id = candidate_task_id(hash_, row["relaxed_id"], structure)
        elements |= {el.symbol for el in structure.composition}
        if wanted(task_id):
            tag = {
                "task_id": task_id,
                "purpose": "candidate",
                "settings_hash": hash_,
                "candidate_id": row["candidate_id"],
                "relaxed_id": row["relaxed_id"],
                "predicted": row.get("formation_energy_per_atom"),
            }
            items.append((structure, tag, f"validate {row['formula']}"))
    mp_refs = read_elemental_references(
        factory.settings.shared_data_dir() / REFERENCES_FILE
    )
    for element in sorted(elements, key=lambda s: Element(s).Z):
        task_id = reference_task_id(hash_, element)
        if wanted(task_id):
            setup = reference_setup(element, mp_refs, params)
            tag = {
                "task_id": task_id,
                "purpose": "reference",
                "settings_hash": hash_,
                "element": element,
                "material_id": setup.mp_id,
            }
            items.insert(0, (setup.structure, tag, f"reference {element}"))
    for structure, tag, name in items:
        plan.flows.append(vasp_flow(structure, name, tag))
        plan.tasks.append(_placeholder(structure, tag, version, build))
    if plan.tasks:
        upsert_documents(
            store,
            [t.model_dump() for t in plan.tasks],
            "task_id",
            hash_field="last_updated",
        )
    return plan


def collect_vasp_results(
    factory: StoreFactory, job_store: Any | None = None
) -> list[DftTaskDoc]:
    """Turn finished VASP statics of the job store into ``dft_tasks`` documents.

    References are collected first, so the candidates' formation energies can
    be taken against them; a candidate whose references are not finished yet
    stays ``submitted``. The candidates builder then joins the new values.

    Parameters
    ----------
    factory
        The store factory (``dft_tasks``, ``candidates``).
    job_store
        The jobflow store the cluster wrote to (the factory's when None).

    Returns
    -------
    list of DftTaskDoc
        The documents written.
    """
    from matforge.builders.candidates import build_candidates
    from matforge.dft.vasp import METADATA_KEY, result_from_task_doc

    job_store = job_store or factory.job_store()
    job_store.connect()
    store = factory.store("dft_tasks")
    open_tasks = {
        d["task_id"]: d
        for d in store.query(
            {"code": "vasp", "state": {"$ne": "successful"}},
            properties=[f for f in DftTaskDoc.model_fields if f != "task_doc"],
        )
    }
    finished: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for job_doc in job_store.query(
        {f"metadata.{METADATA_KEY}.task_id": {"$in": sorted(open_tasks)}},
        load=True,
    ):
        output = job_doc.get("output")
        tag = (job_doc.get("metadata") or {}).get(METADATA_KEY) or {}
        if (
            isinstance(output, dict)
            and output.get("task_label", job_doc.get("name")) == "MP GGA static"
        ):
            finished.append((tag, output))
    finished.sort(key=lambda item: item[0].get("purpose") != "reference")
    written: list[DftTaskDoc] = []
    for tag, output in finished:
        old = open_tasks[tag["task_id"]]
        hash_ = tag["settings_hash"]
        references: dict[str, ReferenceUse] = {}
        if tag["purpose"] != "reference":
            elements = [
                el.symbol
                for el in Structure.from_dict(old["input_structure"]).composition
            ]
            ids = {reference_task_id(hash_, el): el for el in elements}
            for tid, doc in successful_tasks(factory, list(ids)).items():
                references[ids[tid]] = ReferenceUse(
                    task_id=tid, energy_per_atom=doc["energy_per_atom"]
                )
            if len(references) < len(elements):
                continue  # its references are not finished yet
        doc = task_document(
            result_from_task_doc(output, tag["task_id"]),
            task_id=tag["task_id"],
            purpose=tag["purpose"],
            code="vasp",
            code_version=old["code_version"],
            hash_=hash_,
            input_structure=Structure.from_dict(old["input_structure"]),
            relaxed=True,
            references=references,
            predicted=old.get("predicted_formation_energy_per_atom"),
            candidate_id=old.get("candidate_id"),
            relaxed_id=old.get("relaxed_id"),
            element=old.get("element"),
            material_id=old.get("material_id"),
        )
        store_task(factory, doc)
        written.append(doc)
    if written:
        build_candidates(factory)
    return written
