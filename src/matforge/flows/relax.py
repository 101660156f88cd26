"""The relax stage: a campaign's generated crystals in, relaxed documents out.

The relaxation itself (an ML potential through atomate2's force-field makers,
energies, formation energy, energy above the hull) lives in
:mod:`matforge.potentials`. This module is the stage's seam: the discovery
flow calls :func:`relax_generated`, which hands the work to that package when
it is installed and otherwise stops with a clear error.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobflow import job

from matforge.errors import MatforgeError
from matforge.flows.stages import StageMaker, execute_stage

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings
    from matforge.stores import StoreFactory

POTENTIALS_PACKAGE = "matforge.potentials"


class StageUnavailableError(MatforgeError):
    """A stage of the flow needs a package that is not installed."""


def potentials_available() -> bool:
    """Return whether the ML-potential package can be imported."""
    return importlib.util.find_spec(POTENTIALS_PACKAGE) is not None


def relax_generated(
    factory: StoreFactory,
    run_id: str,
    settings: MatforgeSettings,
    generated_ids: list[str],
    potential: str | None = None,
) -> dict[str, Any]:
    """Relax a campaign's generated crystals into the relaxed collection.

    Parameters
    ----------
    factory
        The store factory (generated in; relaxed out).
    run_id
        The campaign, recorded on every relaxed document.
    settings
        The matforge settings.
    generated_ids
        The generated documents to relax.
    potential
        Name of the ML potential (None: the package's default).

    Returns
    -------
    dict
        Small, JSON-able output: counts ``relaxed``, ``converged``, ``failed``.
        The documents (:class:`~matforge.schemas.relaxed.RelaxedDoc`, with
        ``run_id``) are upserted into ``relaxed`` on their deterministic ids,
        so a re-run after an interruption adds no duplicates.

    Raises
    ------
    StageUnavailableError
        If :mod:`matforge.potentials` is not installed.
    """
    if not potentials_available():
        raise StageUnavailableError(
            "the relax stage needs the ML-potential package matforge.potentials, "
            "which this installation lacks; install a matforge that includes it"
        )
    potentials = importlib.import_module(POTENTIALS_PACKAGE)
    return potentials.relax_generated(
        factory, run_id, settings, generated_ids, potential=potential
    )


def relax_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Relax the crystals the generate stage made (see :func:`relax_generated`)."""
    if not upstream or "generated_ids" not in upstream:
        raise ValueError("the relax stage needs the generate stage's generated_ids")
    return dict(
        relax_generated(
            factory,
            run_id,
            settings,
            list(upstream["generated_ids"]),
            potential=settings.run.potential,
        )
    )


@dataclass
class RelaxGeneratedMaker(StageMaker):
    """Relax a campaign's generated crystals with an ML potential.

    Parameters
    ----------
    potential
        Name of the ML potential; None takes ``run.potential`` where the job
        runs.
    """

    name: str = "relax"
    potential: str | None = None

    @job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        maker = self
        if self.potential is not None:
            run = {**self.overrides.get("run", {}), "potential": self.potential}
            maker = StageMaker(self.name, self.run_id, {**self.overrides, "run": run})
        return execute_stage(
            maker,
            "relax",
            lambda s: {"potential": s.run.potential, "score": s.score.model_dump()},
            relax_stage,
            upstream,
        )
