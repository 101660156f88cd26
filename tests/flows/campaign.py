"""Run `matforge` (with the relax test double) in a subprocess, for flow tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(
    os.environ.get("MATFORGE_SHARED_DATA", HERE.parents[1] / ".." / "shared" / "data")
).resolve()

TINY = """\
ml:
  quick_epochs: 2
run:
  quick_samples: 6
  quick_bootstrap: 2
  metrics: false
"""


def campaign_env(folder: Path, **extra: str) -> dict[str, str]:
    """Return an environment with its own home and a tiny quick campaign."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "matforge.yaml"
    if not config.exists():
        config.write_text(TINY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATFORGE_")}
    env |= {
        "MATFORGE_HOME": str(folder / "home"),
        "MATFORGE_CONFIG_FILE": str(config),
        "MATFORGE_SHARED_DATA": str(SHARED),
        "PYTHONPATH": str(HERE),
        **extra,
    }
    return env


def command(entry: str, *args: str) -> list[str]:
    """Return the command line of an entry point run with the relax double."""
    code = f"import sys, doubles; sys.argv = {[entry, *args]!r}; "
    code += f"doubles.main_with_double({entry!r})"
    return [sys.executable, "-c", code]


def run(entry: str, *args: str, env: dict[str, str], cwd: Path | None = None):
    """Run an entry point to completion; return the finished process."""
    return subprocess.run(
        command(entry, *args),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
