"""The optional DFT stage: validate a campaign's top candidates.

Off unless ``run.dft_validation`` is set. The calculations (atomate2 VASP on
a cluster, or a local open-source code) live in :mod:`matforge.dft`; the
discovery flow calls :func:`validate_top`, which hands the work to that
package when it is installed and otherwise stops with a clear error.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobflow import job

from matforge.flows.relax import StageUnavailableError
from matforge.flows.stages import StageMaker, execute_stage

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory

DFT_PACKAGE = "matforge.dft"


def dft_available() -> bool:
    """Return whether the DFT package can be imported."""
    return importlib.util.find_spec(DFT_PACKAGE) is not None


def validate_top(
    factory: StoreFactory,
    run_id: str,
    settings: MatforgeSettings,
    candidate_ids: list[str],
) -> dict[str, Any]:
    """Run DFT on the given candidates and write the results back.

    Parameters
    ----------
    factory
        The store factory (candidates in; dft_tasks and candidates out).
    run_id
        The campaign.
    settings
        The matforge settings (``run.dft_top_k`` chose the candidates).
    candidate_ids
        The candidates to validate, best first.

    Returns
    -------
    dict
        Small output: ``validated`` (ids) and counts.

    Raises
    ------
    StageUnavailableError
        If :mod:`matforge.dft` is not installed.
    """
    if not dft_available():
        raise StageUnavailableError(
            "DFT validation (run.dft_validation) needs the package matforge.dft, "
            "which this installation lacks; install it or set "
            "run.dft_validation to false"
        )
    dft = importlib.import_module(DFT_PACKAGE)
    return dft.validate_top(factory, run_id, settings, candidate_ids)


def dft_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Validate the candidates stage's top ids (see :func:`validate_top`)."""
    ids = list((upstream or {}).get("top_ids", []))[: settings.run.dft_top_k]
    return validate_top(factory, run_id, settings, ids)


@dataclass
class DFTValidationMaker(StageMaker):
    """DFT validation of a campaign's top candidates (optional stage)."""

    name: str = "dft validation"

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self, "dft", lambda s: {"top_k": s.run.dft_top_k}, dft_stage, upstream
        )
