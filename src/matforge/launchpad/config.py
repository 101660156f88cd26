"""The FireWorks files a cluster needs, made from matforge's settings.

``matforge launchpad init`` writes, in one folder:

- ``my_launchpad.yaml``: the launchpad database (FireWorks needs MongoDB);
- ``my_fworker.yaml``: the worker;
- ``my_qadapter.yaml`` (the configured queue system), ``my_qadapter_slurm.yaml``
  and ``my_qadapter_pbs.yaml``: queue adapters whose rockets run with
  matforge's settings and jobflow's job store;
- ``matforge.yaml``: the settings the jobs read on the worker (same database);
- ``jobflow.yaml``: jobflow's ``JOB_STORE``, matforge's job store, so job
  outputs land in the matforge database wherever a job runs.

The files can hold passwords (FireWorks and jobflow read them from there), so
they are written readable by their owner only; nothing here prints them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from matforge.errors import ConfigError
from matforge.stores.uri import backend_of, with_credentials

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings

MOCK_URI = "mongodb://localhost:27017"


def launchpad_uri(settings: MatforgeSettings) -> str:
    """Return the launchpad's MongoDB URI, credentials included.

    Raises
    ------
    ConfigError
        When neither the launchpad nor the store names a MongoDB server and
        FireWorks' mongomock persistence (``MONGOMOCK_SERVERSTORE_FILE``) is off.
    """
    for secret in (settings.launchpad.uri, settings.store.uri):
        if secret is not None and backend_of(secret.get_secret_value()) == "mongodb":
            uri = secret.get_secret_value()
            password = settings.store.password
            return with_credentials(
                uri,
                settings.store.username,
                password.get_secret_value() if password is not None else None,
            )
    if os.environ.get("MONGOMOCK_SERVERSTORE_FILE"):
        return MOCK_URI
    raise ConfigError(
        "FireWorks needs MongoDB: set launchpad.uri (MATFORGE_LAUNCHPAD__URI) or a "
        "mongodb:// store URI; to try it without a server, set "
        "MONGOMOCK_SERVERSTORE_FILE to a file holding {}"
    )


def settings_snapshot(settings: MatforgeSettings) -> dict[str, Any]:
    """Return the settings as plain data, secrets included, for a worker file."""

    def reveal(value: Any) -> Any:
        if hasattr(value, "get_secret_value"):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [reveal(v) for v in value]
        if isinstance(value, Path):
            return str(value.expanduser())
        return value

    data = reveal(settings.model_dump())
    return {k: v for k, v in data.items() if v is not None}


def _rocket(folder: Path) -> tuple[str, str]:
    exports = (
        f"export MATFORGE_CONFIG_FILE={folder / 'matforge.yaml'}\n"
        f"export JOBFLOW_CONFIG_FILE={folder / 'jobflow.yaml'}"
    )
    launch = (
        f"rlaunch -w {folder / 'my_fworker.yaml'} -l {folder / 'my_launchpad.yaml'} "
        "singleshot"
    )
    return exports, launch


def launchpad_files(
    settings: MatforgeSettings, folder: Path, job_store: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Return the content of every file, by file name (pure).

    Parameters
    ----------
    settings
        The matforge settings.
    folder
        Where the files will live (their paths refer to each other).
    job_store
        jobflow's ``JobStore`` as a dict (``JobStore.as_dict()``).
    """
    lp = settings.launchpad
    folder = folder.expanduser().resolve()
    exports, launch = _rocket(folder)
    pre_rocket = exports + (f"\n{lp.pre_rocket}" if lp.pre_rocket else "")
    common = {
        "_fw_name": "CommonAdapter",
        "rocket_launch": launch,
        "walltime": lp.walltime,
        "queue": lp.queue,
        "account": lp.account,
        "job_name": "matforge",
        "pre_rocket": pre_rocket,
        "logdir": str(folder / "logs"),
    }
    slurm = {
        **common,
        "_fw_q_type": "SLURM",
        "nodes": lp.nodes,
        "ntasks": lp.nodes * lp.cores_per_node,
    }
    pbs = {
        **common,
        "_fw_q_type": "PBS",
        "nnodes": lp.nodes,
        "ppnode": lp.cores_per_node,
    }
    return {
        "my_launchpad.yaml": {
            "host": launchpad_uri(settings),
            "uri_mode": True,
            "name": lp.database,
            "logdir": None,
            "strm_lvl": "INFO",
        },
        "my_fworker.yaml": {"name": lp.fworker, "category": "", "query": "{}"},
        "my_qadapter.yaml": slurm if lp.queue_system == "slurm" else pbs,
        "my_qadapter_slurm.yaml": slurm,
        "my_qadapter_pbs.yaml": pbs,
        "matforge.yaml": settings_snapshot(settings),
        "jobflow.yaml": {"JOB_STORE": job_store},
    }


def write_launchpad_files(
    settings: MatforgeSettings, folder: str | Path, job_store: dict[str, Any]
) -> list[Path]:
    """Write the FireWorks files (owner-only permissions) and return their paths."""
    target = Path(folder).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in launchpad_files(settings, target, job_store).items():
        path = target / name
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def init_launchpad(settings: MatforgeSettings, folder: str | Path) -> list[Path]:
    """Write every FireWorks file of the settings' database into ``folder``."""
    from matforge.stores import StoreFactory

    with StoreFactory(settings) as factory:
        job_store = factory.job_store().as_dict()
    return write_launchpad_files(settings, folder, job_store)
