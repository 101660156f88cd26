"""Submit flows to a FireWorks launchpad: discovery, amorphous, VASP validation.

The one place a LaunchPad is built (:func:`make_launchpad`): from a
``my_launchpad.yaml`` when one is named, else from the launchpad settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from matforge.flows.amorphous import amorphous_flow
from matforge.flows.discovery import discovery_flow
from matforge.flows.vasp import (
    collect_vasp_results,
    plan_vasp_validation,
    write_vasp_workflow,
)
from matforge.launchpad.config import launchpad_uri
from matforge.stores.lock import store_writer
from matforge.stores.uri import mask_uri

if TYPE_CHECKING:
    from matforge.flows.dft import Selection
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory


def make_launchpad(
    settings: MatforgeSettings, launchpad_file: str | Path | None = None
) -> tuple[Any, str]:
    """Return the LaunchPad and where it is (no password in it).

    A launchpad database that was never used is initialised first.

    Parameters
    ----------
    settings
        The settings (the launchpad section; the store's MongoDB by default).
    launchpad_file
        ``my_launchpad.yaml``; default: a launchpad from the settings.
    """
    from fireworks import LaunchPad

    if launchpad_file is not None:
        spec = yaml.safe_load(Path(launchpad_file).read_text(encoding="utf-8"))
        # FireWorks logs to stdout: keep it for warnings, stdout is the answer's
        lpad = LaunchPad.from_dict({**spec, "strm_lvl": "WARNING"})
        where = str(launchpad_file)
    else:
        uri = launchpad_uri(settings)
        lpad = LaunchPad(
            host=uri,
            uri_mode=True,
            name=settings.launchpad.database,
            strm_lvl="WARNING",
        )
        where = f"{mask_uri(uri)} (database {settings.launchpad.database})"
    if _fresh(lpad):
        # a new launchpad database has no FireWorks id counter yet
        lpad.reset("", require_password=False)
    return lpad, where


def submit_discovery(
    settings: MatforgeSettings,
    quick: bool = False,
    launchpad_file: str | Path | None = None,
) -> dict[str, Any]:
    """Turn the discovery flow into a FireWorks workflow and add it.

    The workflow carries no store: each job writes to the jobflow
    ``JOB_STORE`` of the worker (``JOBFLOW_CONFIG_FILE``), with the science
    settings the flow was built with and the worker's own database
    (``MATFORGE_CONFIG_FILE``), as ``matforge launchpad init`` writes them.

    Parameters
    ----------
    settings
        The settings (the launchpad section, and the campaign's).
    quick
        A small but complete campaign.
    launchpad_file
        ``my_launchpad.yaml``; default: a launchpad from the settings.

    Returns
    -------
    dict
        ``run_id``, ``fw_ids`` (the ids FireWorks gave) and ``launchpad``.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    run_id, flow, _ = discovery_flow(settings, quick)
    workflow = flow_to_workflow(flow)
    lpad, where = make_launchpad(settings, launchpad_file)
    ids = lpad.add_wf(workflow)
    return {"run_id": run_id, "fw_ids": sorted(ids.values()), "launchpad": where}


def amorphous_workflow(
    settings: MatforgeSettings, compositions: Sequence[str] = (), **options: Any
) -> tuple[str, Any]:
    """Return the campaign id and the amorphous flow as a FireWorks workflow.

    One firework per job: ingest, training, one melt-quench MD per
    composition, the report. ``options`` are those of
    :func:`~matforge.flows.amorphous.amorphous_flow`. No store travels in it
    (see :func:`submit_discovery`).
    """
    from jobflow.managers.fireworks import flow_to_workflow

    run_id, flow = amorphous_flow(settings, compositions, **options)
    return run_id, flow_to_workflow(flow)


def submit_amorphous(
    settings: MatforgeSettings,
    compositions: Sequence[str] = (),
    *,
    temperatures: Sequence[float] | None = None,
    potential: str | None = None,
    train: bool = True,
    launchpad_file: str | Path | None = None,
) -> dict[str, Any]:
    """Add the amorphous campaign's flow to a FireWorks launchpad.

    Parameters
    ----------
    settings
        The settings (the launchpad section, and the ``amorphous`` section
        that travels with every job).
    compositions
        Formulas of the melt-quench MD fireworks.
    temperatures, potential
        Of the MD (None: ``amorphous.temperatures``, ``amorphous.potential``).
    train
        Add the training firework.
    launchpad_file
        ``my_launchpad.yaml``; default: a launchpad from the settings.

    Returns
    -------
    dict
        ``run_id``, ``fw_ids`` (the ids FireWorks gave) and ``launchpad``.
    """
    run_id, workflow = amorphous_workflow(
        settings,
        compositions,
        temperatures=temperatures,
        potential=potential,
        train=train,
    )
    lpad, where = make_launchpad(settings, launchpad_file)
    ids = lpad.add_wf(workflow)
    return {"run_id": run_id, "fw_ids": sorted(ids.values()), "launchpad": where}


def validate_with_vasp(
    factory: StoreFactory,
    *,
    top: int | None = None,
    workflow_path: str | Path | None = None,
    submit: bool = False,
    resubmit: bool = False,
    novel_only: bool = False,
    sample: Selection | None = None,
) -> tuple[dict[str, Any], Any]:
    """Plan the VASP validation of the top candidates, write it, maybe submit it.

    Parameters
    ----------
    factory
        The store factory.
    top
        Candidates to validate (``dft.top_k`` when None).
    workflow_path
        Where to write the FireWorks workflow (default under ``<home>/dft``).
    submit
        Also add it to the LaunchPad of the settings.
    resubmit
        Plan submitted, unfinished tasks again.
    novel_only
        Only candidates flagged novel.
    sample
        Validate a seeded draw from a campaign's S.U.N. set, or chosen
        crystals (:class:`ChosenCrystals`), instead.

    Returns
    -------
    payload, plan
        What ``validate --code vasp --json`` prints, and the plan.
    """
    with store_writer(factory, "matforge validate --code vasp"):
        plan = plan_vasp_validation(
            factory,
            top=top,
            resubmit=resubmit,
            novel_only=novel_only,
            sample=sample,
        )
    workflow, path = write_vasp_workflow(factory, plan, workflow_path)
    payload = plan.as_dict()
    if workflow is not None:
        payload["workflow"] = str(path)
        payload["fireworks"] = len(workflow.fws)
        if submit:
            lpad, where = make_launchpad(factory.settings)
            lpad.add_wf(workflow)
            payload["submitted_to_launchpad"] = True
            payload["launchpad"] = where
    return payload, plan


def collect_vasp(factory: StoreFactory) -> dict[str, Any]:
    """Read finished VASP statics back into ``dft_tasks`` (``--collect``)."""
    with store_writer(factory, "matforge validate --code vasp --collect"):
        docs = collect_vasp_results(factory)
    return {
        "collected": [
            {
                "task_id": d.task_id,
                "purpose": d.purpose,
                "formula": d.formula,
                "state": d.state,
                "formation_energy_per_atom": d.formation_energy_per_atom,
            }
            for d in docs
        ]
    }


def _fresh(lpad: Any) -> bool:
    """Return whether a launchpad database was never initialised (and is empty)."""
    return (
        lpad.fw_id_assigner.find_one({}) is None
        and lpad.workflows.count_documents({}) == 0
    )
