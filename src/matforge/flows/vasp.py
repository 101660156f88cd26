"""DFT validation with VASP on a cluster: plan atomate2's MP workflows, collect.

The candidates are the ones the GPAW route would validate
(:func:`matforge.flows.dft.validation_targets`). Planning builds atomate2's
``MPGGADoubleRelaxStaticMaker`` flow for each candidate and each missing
elemental reference, tagged with its matforge task id, and stores a
``submitted`` placeholder in ``dft_tasks`` so a second plan does not submit
it again; the FireWorks workflow is written to a file (``matforge launchpad``
adds it to the LaunchPad). Collecting runs the VASP builder
(:mod:`matforge.builders.vasp`) over the job store, then rebuilds the
candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Element, Structure

from matforge.builders.vasp import collect_vasp_tasks
from matforge.data.offline import REFERENCES_FILE
from matforge.dft.tasks import candidate_task_id, reference_task_id, settings_hash
from matforge.flows.candidates import rebuild_candidates
from matforge.flows.dft import (
    Selection,
    dft_params,
    reference_setups,
    validation_targets,
)
from matforge.schemas.common import BuildMeta
from matforge.schemas.dft import DftTaskDoc
from matforge.stores.dft import store_tasks, task_states

if TYPE_CHECKING:
    from matforge.stores import StoreFactory


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
    factory: StoreFactory,
    top: int | None = None,
    resubmit: bool = False,
    run_id: str | None = None,
    novel_only: bool = False,
    sample: Selection | None = None,
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
    run_id
        Rank within this campaign (every campaign's when None).
    novel_only
        Only candidates flagged novel.
    sample
        Validate a seeded draw from a campaign's S.U.N. set, or chosen
        crystals (:class:`ChosenCrystals`), instead.

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
    states = task_states(store, hash_)

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
    targets = validation_targets(
        factory, top or params.top_k, run_id, novel_only=novel_only, sample=sample
    )
    for row in targets:
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
                "_structure": row["structure"],
            }
            items.append((structure, tag, f"validate {row['formula']}"))
    setups = reference_setups(factory, sorted(elements), params)
    reference_ids = {
        el: reference_task_id(hash_, setup.key) for el, setup in setups.items()
    }
    for _, tag, _ in items:
        comp = Structure.from_dict(tag.pop("_structure")).composition
        tag["reference_ids"] = {el.symbol: reference_ids[el.symbol] for el in comp}
    for element in sorted(elements, key=lambda s: Element(s).Z):
        task_id = reference_ids[element]
        if wanted(task_id):
            setup = setups[element]
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
    store_tasks(store, plan.tasks)
    return plan


def write_vasp_workflow(
    factory: StoreFactory, plan: VaspPlan, path: str | Path | None = None
) -> tuple[Any, Path | None]:
    """Write a plan's FireWorks workflow to a file (YAML or JSON by suffix).

    Parameters
    ----------
    factory
        The store factory (its home holds the default folder).
    plan
        The plan.
    path
        Where (default ``<home>/dft/vasp-workflow-<hash>.yaml``).

    Returns
    -------
    workflow, path
        The workflow and its file; ``(None, None)`` when nothing is to run.
    """
    workflow = plan.workflow()
    if workflow is None:
        return None, None
    target = Path(
        path
        or factory.settings.home_dir
        / "dft"
        / f"vasp-workflow-{plan.settings_hash}.yaml"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    workflow.to_file(str(target))
    return workflow, target


def collect_vasp_results(
    factory: StoreFactory, job_store: Any | None = None
) -> list[DftTaskDoc]:
    """Turn finished VASP statics of the job store into ``dft_tasks`` documents.

    Runs the VASP builder (references first), then the candidates builder,
    which joins the new values.

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
    job_store = job_store or factory.job_store()
    job_store.connect()
    written = collect_vasp_tasks(job_store, factory.store("dft_tasks"))
    if written:
        rebuild_candidates(factory)
    return written
