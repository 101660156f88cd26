"""The DFT validation stage with GPAW: the top candidates -> ``dft_tasks``.

The science is in :mod:`matforge.dft`; here the stage picks the candidates to
validate (:func:`validation_targets`, shared with the VASP route of
:mod:`matforge.flows.vasp`, so both codes validate the same candidates),
computes what is missing (elemental references first, cached in ``dft_tasks``
and reused by every later run with the same settings) and stores one
``dft_tasks`` document per calculation. The candidates builder then joins the
DFT formation energies into the candidates table: in the flow as its own job
after this stage, from the command line in :func:`validate_and_rebuild`.

Resumable and idempotent: every finished calculation is stored at once, and a
candidate validated with the same settings (same task id: settings hash,
relaxed id and structure) is not computed again. Failed tasks are retried by
the next run.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from pymatgen.core import Element, Structure

from matforge.data.offline import REFERENCES_FILE, read_elemental_references
from matforge.dft.formation import ReferenceSetup, reference_setup, squared_error
from matforge.dft.gpaw import DftError, gpaw_version, require_gpaw
from matforge.dft.runner import DftCalcResult, DftCalculation, run_gpaw
from matforge.dft.tasks import (
    candidate_task_id,
    reference_task_id,
    settings_hash,
    task_document,
)
from matforge.errors import MatforgeError, StageUnavailableError
from matforge.flows.candidates import rebuild_candidates
from matforge.flows.relax import campaign_hull, hull_products
from matforge.flows.stage import StageMaker, execute_stage, stage_job
from matforge.schemas.common import BuildMeta
from matforge.schemas.dft import DftTaskDoc, ReferenceUse
from matforge.stores.dft import store_task, successful_tasks
from matforge.stores.lock import store_writer
from matforge.stores.queries import ranked_candidates
from matforge.stores.runs import latest_run_id, stage_output

if TYPE_CHECKING:
    from matforge.core.hull import HullCalculator
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


def compute_task(
    factory: StoreFactory,
    runner: Runner,
    structure: Structure,
    task_id: str,
    params: DftSettings,
    *,
    molecule: bool = False,
    relax: bool | None = None,
    relax_cell: bool | None = None,
    hull: HullCalculator | None = None,
    **fields: Any,
) -> DftTaskDoc:
    """Run one calculation, store its task document in ``dft_tasks`` and return it.

    The one path of every DFT calculation here: candidates, elemental
    references and the benchmarks of known hydrides.

    Parameters
    ----------
    factory
        The store factory (``dft_tasks``).
    runner
        Runs the calculation.
    structure
        The structure.
    task_id
        Its task id.
    params
        The ``dft`` settings.
    molecule
        A molecule in a box (Gamma point, one process).
    relax, relax_cell
        Relax the atoms / the cell (the settings' when None).
    hull
        The competing phases' hull: a compound's DFT formation energy gets its
        energy above it and its decomposition.
    **fields
        Go to :func:`~matforge.dft.tasks.task_document` (``purpose``,
        ``code_version``, ``hash_``, ``references``, ``predicted``, ids,
        ``build``).
    """
    relax = params.relax if relax is None else relax
    result = runner(
        DftCalculation(
            structure=structure,
            label=task_id,
            molecule=molecule,
            relax=relax,
            relax_cell=params.relax_cell if relax_cell is None else relax_cell,
        )
    )
    task = task_document(
        result,
        task_id=task_id,
        code=params.code,
        input_structure=structure,
        relaxed=relax,
        **fields,
    )
    if hull is not None:
        task = with_hull(task, hull)
    store_task(factory.store("dft_tasks"), task)
    return task


def with_hull(task: DftTaskDoc, hull: HullCalculator) -> DftTaskDoc:
    """Return a compound's task with its DFT energy above the hull (pure)."""
    e_form = task.formation_energy_per_atom
    if e_form is None or task.purpose == "reference":
        return task
    structure = task.structure or task.input_structure
    result = hull.assess(structure.composition, e_form, entry_id=task.relaxed_id)
    return task.model_copy(
        update={
            "e_above_hull": result.e_above_hull,
            "decomposition": hull_products(result),
        }
    )


def reference_setups(
    factory: StoreFactory, elements: Sequence[str], params: DftSettings
) -> dict[str, ReferenceSetup]:
    """Return how each element's DFT reference is computed (MP's file read once)."""
    mp_refs = read_elemental_references(
        factory.settings.shared_data_dir() / REFERENCES_FILE
    )
    return {el: reference_setup(el, mp_refs, params) for el in elements}


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
    setups = reference_setups(factory, elements, params)
    ids = {el: reference_task_id(hash_, setups[el].key) for el in elements}
    cached = successful_tasks(factory.store("dft_tasks"), list(ids.values()))
    found = {
        el: ReferenceUse(task_id=tid, energy_per_atom=cached[tid]["energy_per_atom"])
        for el, tid in ids.items()
        if tid in cached
    }
    missing = [el for el in elements if el not in found]
    if not missing:
        return found
    build = BuildMeta(
        inputs=[REFERENCES_FILE],
        settings={"dft": params.model_dump(mode="json")},
    )
    for element in sorted(missing, key=lambda s: Element(s).Z):
        setup = setups[element]
        if progress is not None:
            cell = "" if setup.cell == "mp" else f", {setup.cell} cell"
            progress(f"reference {element} ({len(setup.structure)} atoms{cell})")
        doc = compute_task(
            factory,
            runner,
            setup.structure,
            ids[element],
            params,
            molecule=setup.molecule,
            relax=setup.relax,
            relax_cell=setup.relax_cell,
            purpose="reference",
            code_version=code_version,
            hash_=hash_,
            element=element,
            material_id=setup.mp_id,
            mp_energy_per_atom=setup.mp_energy_per_atom,
            build=build,
        )
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
    e_above_hull_dft: float | None = None
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

    @property
    def absolute_errors(self) -> list[float]:
        """|predicted - DFT| E_form of the rows with both energies, eV/atom."""
        return [
            abs(row.formation_energy_per_atom - row.formation_energy_dft_per_atom)
            for row in self.rows
            if row.formation_energy_per_atom is not None
            and row.formation_energy_dft_per_atom is not None
        ]

    @property
    def mae(self) -> float | None:
        """Mean absolute error of predicted vs DFT E_form, eV/atom (None: no pair).

        Over :attr:`absolute_errors`; the paper's figure for its novel
        candidates is 0.0775 eV/atom.
        """
        errors = self.absolute_errors
        return sum(errors) / len(errors) if errors else None

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain values (``matforge validate --json``)."""
        return {
            "code": self.code,
            "settings_hash": self.settings_hash,
            "references": dict(self.references),
            "seconds": self.seconds,
            "mae": self.mae,
            "rows": [asdict(row) for row in self.rows],
        }


@dataclass(frozen=True)
class SunSample:
    """A random draw from a campaign's S.U.N. crystals, to be checked with DFT.

    The S.U.N. rate rests on ML energies; DFT on a random handful of the
    S.U.N. set says how much of it holds. The draw is seeded, so the same
    campaign, count and seed always give the same crystals.

    Attributes
    ----------
    count
        How many crystals (all of them when the set is smaller).
    seed
        The seed of the draw.
    run_id
        The campaign (the latest when None).
    """

    count: int
    seed: int = 0
    run_id: str | None = None


@dataclass(frozen=True)
class ChosenCrystals:
    """Crystals named by their candidate ids, to be checked with DFT.

    Any crystal of the candidates collection, whatever its status: a S.U.N.
    crystal that a validity filter set aside, or one to relax after a single
    point. ``rank`` is the order given.
    """

    ids: tuple[str, ...]


Selection = SunSample | ChosenCrystals
"""What to validate instead of the top candidates."""


def sun_sample_targets(
    factory: StoreFactory, sample: SunSample
) -> list[dict[str, Any]]:
    """Return the crystals of a seeded draw from a campaign's S.U.N. set.

    The S.U.N. ids (at 0.1 eV/atom) are those the candidates stage stored on
    the campaign. A S.U.N. crystal need not be a ranked candidate (validity
    filters such as charge neutrality are not part of the protocol), so its
    candidates document is taken whatever its status. ``rank`` is the order of
    the draw.

    Raises
    ------
    MatforgeError
        If there is no campaign, it has no S.U.N. figures yet, its S.U.N. set
        is empty, or a drawn crystal has no candidates document.
    """
    run_id = sample.run_id or latest_run_id(factory)
    if run_id is None:
        raise MatforgeError("no campaign in this store: run `matforge run` first")
    sun = stage_output(factory, run_id, "candidates").get("sun") or {}
    if "sun_ids" not in sun:
        raise MatforgeError(
            f"campaign {run_id} has no S.U.N. figures: its candidates stage has "
            "not run since they were introduced (run `matforge run` again)"
        )
    ids = sorted(sun["sun_ids"])
    if not ids:
        raise MatforgeError(f"campaign {run_id} has no S.U.N. crystals to draw from")
    drawn = random.Random(sample.seed).sample(ids, min(sample.count, len(ids)))
    return candidate_documents(
        factory,
        drawn,
        f"S.U.N. crystals of campaign {run_id} without a candidates document",
    )


def candidate_documents(
    factory: StoreFactory, ids: Sequence[str], missing_what: str
) -> list[dict[str, Any]]:
    """Return the candidates documents of ``ids``, whatever their status.

    ``rank`` is the order of ``ids``.

    Raises
    ------
    MatforgeError
        Starting with ``missing_what``, if an id has no document.
    """
    store = factory.store("candidates")
    found = {
        d["candidate_id"]: d
        for d in store.query(
            {"candidate_id": {"$in": list(ids)}}, properties=list(CANDIDATE_FIELDS)
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise MatforgeError(
            f"{missing_what}: {', '.join(missing)} (run `matforge build candidates`)"
        )
    targets = []
    for rank, candidate_id in enumerate(dict.fromkeys(ids), start=1):
        doc = dict(found[candidate_id])
        doc.pop("_id", None)
        targets.append(doc | {"rank": rank})
    return targets


def validation_targets(
    factory: StoreFactory,
    top: int,
    run_id: str | None = None,
    candidate_ids: Sequence[str] | None = None,
    *,
    novel_only: bool = False,
    sample: Selection | None = None,
) -> list[dict[str, Any]]:
    """Return the candidates to validate, best first, with their structures.

    Both DFT codes pick their candidates here, so GPAW and VASP validate the
    same ones for the same campaign. With ``sample``, the crystals are a
    seeded draw from a campaign's S.U.N. set instead (:func:`sun_sample_targets`;
    ``top`` and the other filters do not apply).

    Parameters
    ----------
    factory
        The store factory.
    top
        How many.
    run_id
        The campaign whose ranking is used (every campaign's when None).
    candidate_ids
        Only these candidates (a campaign's own ranking).
    novel_only
        Only candidates flagged novel (the paper validates novel ones).
    sample
        Validate a random draw from a S.U.N. set, or chosen crystals, instead.
    """
    if isinstance(sample, ChosenCrystals):
        return candidate_documents(factory, sample.ids, "no candidates document for")
    if sample is not None:
        return sun_sample_targets(factory, sample)
    return ranked_candidates(
        factory.store("candidates"),
        run_id=run_id,
        ids=candidate_ids,
        top=top,
        novel_only=novel_only,
        fields=list(CANDIDATE_FIELDS),
    )


def validate_with_runner(
    factory: StoreFactory,
    params: DftSettings,
    runner: Runner,
    code_version: str,
    top: int | None = None,
    progress: Callable[[str], None] | None = None,
    candidate_ids: Sequence[str] | None = None,
    run_id: str | None = None,
    novel_only: bool = False,
    sample: Selection | None = None,
) -> ValidationSummary:
    """Validate the top candidates (or a S.U.N. sample) with a DFT runner.

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
    run_id
        Rank within this campaign (see :func:`validation_targets`).
    novel_only
        Only candidates flagged novel.
    sample
        Validate a seeded draw from a campaign's S.U.N. set, or chosen
        crystals (:class:`ChosenCrystals`), instead.

    Returns
    -------
    ValidationSummary
        One row per candidate, best first (in the order drawn for ``sample``).
    """
    started = time.perf_counter()
    hash_ = settings_hash(params, code_version)
    summary = ValidationSummary(code=params.code, settings_hash=hash_)
    ranked = validation_targets(
        factory,
        top or params.top_k,
        run_id,
        candidate_ids,
        novel_only=novel_only,
        sample=sample,
    )
    plans = []
    for row in ranked:
        structure = Structure.from_dict(row["structure"])
        task_id = candidate_task_id(hash_, row["relaxed_id"], structure)
        plans.append((row, structure, task_id))
    cached = successful_tasks(
        factory.store("dft_tasks"), [task_id for _, _, task_id in plans]
    )
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
    hull = campaign_hull(factory, [s.composition for _, s, _ in plans])
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
            if doc.get("e_above_hull") is None:  # validated before hulls had it
                full = factory.store("dft_tasks").query_one({"task_id": task_id})
                full.pop("_id", None)
                task = with_hull(DftTaskDoc.model_validate(full), hull)
                store_task(factory.store("dft_tasks"), task)
                doc["e_above_hull"] = task.e_above_hull
            line.e_above_hull_dft = doc.get("e_above_hull")
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
                hull=hull,
            )
            line.status = "computed" if task.state == "successful" else "failed"
            line.formation_energy_dft_per_atom = task.formation_energy_per_atom
            line.e_above_hull_dft = task.e_above_hull
            line.seconds = task.seconds
            line.error = task.error
        line.squared_error = squared_error(
            predicted, line.formation_energy_dft_per_atom
        )
        summary.rows.append(line)
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
    run_id: str | None = None,
    novel_only: bool = False,
    sample: Selection | None = None,
) -> ValidationSummary:
    """Validate the top candidates (or a S.U.N. sample) with GPAW here.

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
    run_id
        Rank within this campaign.
    novel_only
        Only candidates flagged novel.
    sample
        Validate a seeded draw from a campaign's S.U.N. set, or chosen
        crystals (:class:`ChosenCrystals`), instead.

    Returns
    -------
    ValidationSummary
        One row per candidate.

    Raises
    ------
    DftError
        If the code is VASP (see :mod:`matforge.flows.vasp`) or GPAW is missing.
    """
    params = dft_params(factory.settings, code)
    if params.code != "gpaw":
        raise DftError(
            "VASP does not run here: build its workflow with "
            "`matforge validate --code vasp`"
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
        run_id=run_id,
        novel_only=novel_only,
        sample=sample,
    )


def validate_and_rebuild(
    factory: StoreFactory,
    *,
    top: int | None = None,
    progress: Callable[[str], None] | None = None,
    novel_only: bool = False,
    sample: Selection | None = None,
) -> ValidationSummary:
    """Validate the overall top candidates with GPAW, then rebuild the candidates.

    ``matforge validate``: under the embedded store's writer lock; afterwards
    the candidates table shows E_form DFT and the squared error.
    """
    with store_writer(factory, "matforge validate"):
        summary = validate_candidates(
            factory,
            top=top,
            code="gpaw",
            progress=progress,
            novel_only=novel_only,
            sample=sample,
        )
        rebuild_candidates(factory)
    return summary


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
    ids = list((upstream or {}).get("top_ids", []))
    try:
        summary = validate_candidates(
            factory, top=settings.dft.top_k, candidate_ids=ids, run_id=run_id
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
    code's version): GPAW here, every calculation stored in ``dft_tasks``. The
    flow rebuilds the candidates after it
    (:class:`~matforge.flows.candidates.RejudgeCandidatesMaker`).
    """

    name: str = "dft validation"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(self, "dft", _dft_key, dft_stage, upstream)
