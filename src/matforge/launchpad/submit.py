"""Submit the discovery flow to a FireWorks launchpad."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings


def submit_discovery(
    settings: MatforgeSettings,
    quick: bool = False,
    launchpad_file: str | Path | None = None,
) -> dict[str, Any]:
    """Turn the discovery flow into a FireWorks workflow and add it.

    A launchpad database that was never used is initialised first. The
    workflow carries no store: each job writes to the jobflow ``JOB_STORE``
    of the worker (``JOBFLOW_CONFIG_FILE``) and reads the matforge settings of
    the worker (``MATFORGE_CONFIG_FILE``), as ``matforge launchpad init``
    writes them.

    Parameters
    ----------
    settings
        The settings (the launchpad section, and ``run`` for the flow).
    quick
        A small but complete campaign.
    launchpad_file
        ``my_launchpad.yaml``; default: a launchpad from the settings.

    Returns
    -------
    dict
        ``run_id``, ``fw_ids`` (the ids FireWorks gave) and ``launchpad``.
    """
    from fireworks import LaunchPad
    from jobflow.managers.fireworks import flow_to_workflow

    from matforge.flows.discovery import discovery_flow
    from matforge.launchpad.config import launchpad_uri
    from matforge.stores.uri import mask_uri

    run_id, flow, _ = discovery_flow(settings, quick)
    workflow = flow_to_workflow(flow)
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
    ids = lpad.add_wf(workflow)
    return {"run_id": run_id, "fw_ids": sorted(ids.values()), "launchpad": where}


def _fresh(lpad: Any) -> bool:
    """Return whether a launchpad database was never initialised (and is empty)."""
    return (
        lpad.fw_id_assigner.find_one({}) is None
        and lpad.workflows.count_documents({}) == 0
    )
