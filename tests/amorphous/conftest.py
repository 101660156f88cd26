"""Fixtures of the amorphous campaign's flow, CLI and report tests: tiny settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TINY_SETTINGS = {
    "amorphous": {
        "forest": {"n_estimators": 5},
        "xgboost": {"n_estimators": 20},
        "cv": False,
        "max_terms": 2,
        "sis_size": 5,
        "threads": 1,
        "temperatures": [1500.0, 1000.0],
        "md": {
            "target_atoms": 6,
            "melt_steps": 10,
            "quench_step": 1000.0,
            "quench_steps": 5,
            "equilibration_steps": 5,
            "production_steps": 30,
            "traj_interval": 2,
            "n_blocks": 3,
            "volume_search_steps": 10,
            "time_step_fs": 2.0,
        },
    }
}
"""Few trees, two SISSO terms, a 6-atom cell and a few MD steps: seconds."""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """A settings file with :data:`TINY_SETTINGS`."""
    path = tmp_path / "amorphous.yaml"
    path.write_text(yaml.safe_dump(TINY_SETTINGS), encoding="utf-8")
    return path
