"""The causal discovery stage: hydrides in, a graph document in causal_graphs out.

The science is in :mod:`matforge.causal`; the graph's storage (document and
pictures) in :mod:`matforge.stores.causal`. Here the stage reads the
hydrides, runs FCI with the causal settings and stores the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matforge.flows.stage import StageMaker, execute_stage, stage_job
from matforge.stores.causal import HYDRIDE_SOURCE, save_artefacts, store_graph

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.causal.table import PreparedTable
    from matforge.schemas.causal import CausalGraphDoc
    from matforge.settings import CausalSettings, MatforgeSettings
    from matforge.stores import StoreFactory


def hydride_prepared_table(store: Store, causal: CausalSettings) -> PreparedTable:
    """Read the hydrides and build the table FCI runs on.

    Rows without the target are dropped (and reported); features missing in
    some rows are handled as ``causal.missing`` says.

    Parameters
    ----------
    store
        The hydrides store.
    causal
        The causal settings.

    Returns
    -------
    PreparedTable
        The checked, encoded table.
    """
    from matforge.causal.table import TableError, hydride_table, prepare_table

    docs = list(store.query({}, properties=["material_id", "features", "last_updated"]))
    if not docs:
        raise TableError(
            "the hydrides collection is empty; run `matforge ingest offline` first"
        )
    raw = hydride_table(docs, exclude=causal.exclude)
    return prepare_table(
        raw,
        causal.target,
        missing=causal.missing,
        drop_missing_target=True,
        tiers=causal.tiers if causal.background_knowledge else (),
        collinearity_r2=causal.collinearity_r2,
    )


def analyse(
    table: PreparedTable,
    causal: CausalSettings,
    *,
    inputs: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CausalGraphDoc:
    """Run the analysis on a prepared table with the given settings.

    Parameters
    ----------
    table
        The prepared table.
    causal
        The causal settings.
    inputs
        Where the data came from (build metadata).
    progress
        Called with 1 after every bootstrap resample.

    Returns
    -------
    CausalGraphDoc
        The document, without artefacts.
    """
    from matforge.causal.analysis import discover

    return discover(
        table,
        test=causal.test,
        alpha=causal.alpha,
        depth=causal.depth,
        tiers=causal.tiers if causal.background_knowledge else (),
        bootstrap=causal.bootstrap,
        seed=causal.seed,
        stability_threshold=causal.stability_threshold,
        collinearity_r2=causal.collinearity_r2,
        inputs=inputs,
        settings={
            "background_knowledge": causal.background_knowledge,
            "exclude": list(causal.exclude),
            "missing": causal.missing,
        },
        progress=progress,
    )


def render_artefacts(doc: CausalGraphDoc, table: PreparedTable) -> dict[str, bytes]:
    """Return the PNG, the DOT source and the table CSV of an analysis."""
    from matforge.causal.plot import render_dot, render_png

    return {
        "png": render_png(doc),
        "dot": render_dot(doc).encode(),
        "csv": table.to_csv().encode(),
    }


def run_causal_stage(
    factory: StoreFactory,
    causal: CausalSettings,
    *,
    artefacts: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[CausalGraphDoc, dict[str, bytes]]:
    """Run causal discovery on the hydrides and store the result.

    Parameters
    ----------
    factory
        The store factory (hydrides in; causal_graphs and data store out).
    causal
        The causal settings.
    artefacts
        Render and store the PNG, DOT and table CSV.
    progress
        Called with 1 after every bootstrap resample.

    Returns
    -------
    tuple[CausalGraphDoc, dict[str, bytes]]
        The stored document and the artefacts' bytes by kind.
    """
    table = hydride_prepared_table(factory.store("hydrides"), causal)
    doc = analyse(table, causal, inputs=[HYDRIDE_SOURCE], progress=progress)
    blobs: dict[str, bytes] = {}
    if artefacts:
        blobs = render_artefacts(doc, table)
        doc = save_artefacts(factory.data_store(), doc, blobs)
    store_graph(factory.store("causal_graphs"), doc)
    return doc, blobs


def causal_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Run FCI over the hydride features; the graph goes to ``causal_graphs``."""
    doc, _ = run_causal_stage(factory, settings.causal)
    return {
        "graph_id": doc.graph_id,
        "selected_features": list(doc.selected_features),
    }


@dataclass
class CausalStageMaker(StageMaker):
    """Causal discovery (FCI) around the storage score, as a stage of a campaign.

    The job reads the hydrides, writes the
    :class:`~matforge.schemas.causal.CausalGraphDoc` into ``causal_graphs`` and
    its picture into the data store, and returns the graph id and the selected
    features.
    """

    name: str = "causal discovery"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self,
            "causal",
            lambda s: s.causal.model_dump(),
            causal_stage,
            upstream,
        )


def analyse_csv(
    csv_path: str,
    causal: CausalSettings,
    *,
    categorical: list[str] | None = None,
    ignore: list[str] | None = None,
    artefacts: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[CausalGraphDoc, dict[str, bytes]]:
    """Run the analysis on any table (``matforge causal --from-csv``; not stored).

    Parameters
    ----------
    csv_path
        The table (header row; ``.tsv``: tab-separated).
    causal
        The causal settings (``target`` names the column).
    categorical, ignore
        Categorical columns, and columns to leave out.
    artefacts
        Also render the PNG, DOT and table CSV.
    progress
        Called with 1 after every bootstrap resample.
    """
    from matforge.causal.table import prepare_table, read_csv_table

    table = prepare_table(
        read_csv_table(csv_path, categorical or [], ignore or []),
        causal.target,
        tiers=causal.tiers if causal.background_knowledge else (),
        collinearity_r2=causal.collinearity_r2,
    )
    doc = analyse(table, causal, inputs=[csv_path], progress=progress)
    return doc, render_artefacts(doc, table) if artefacts else {}
