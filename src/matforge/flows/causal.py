"""The causal discovery stage: hydrides in, a graph document in causal_graphs out.

The science is in :mod:`matforge.causal`; here the stage reads its input from
and writes its output to the stores of one :class:`~matforge.stores.StoreFactory`.
Large bytes (the PNG, the DOT source and the table the graph was found on) go
to the data store; the graph document keeps references to them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobflow import Maker, job

from matforge.schemas.causal import ArtefactRef, CausalGraphDoc

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.causal.table import PreparedTable
    from matforge.settings import CausalSettings
    from matforge.stores import StoreFactory

HYDRIDE_SOURCE = "collection:hydrides"


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


_CONTENT_TYPES = {"png": "image/png", "dot": "text/vnd.graphviz", "csv": "text/csv"}


def save_artefacts(
    data_store: Store, doc: CausalGraphDoc, blobs: dict[str, bytes]
) -> CausalGraphDoc:
    """Write artefacts to the data store and return the document referencing them.

    Each artefact is one document ``{blob_uuid, data (base64), ...}``; its key is
    derived from the graph id, so re-running the same analysis replaces it.

    Parameters
    ----------
    data_store
        The store of large bytes (``StoreFactory.data_store()``).
    doc
        The graph document.
    blobs
        Artefact kind (png, dot, csv) to bytes.

    Returns
    -------
    CausalGraphDoc
        A copy of ``doc`` with its ``artefacts``.
    """
    refs = []
    for kind, data in blobs.items():
        ref = ArtefactRef(
            kind=kind,
            blob_uuid=f"{doc.graph_id}-{kind}",
            content_type=_CONTENT_TYPES.get(kind, "application/octet-stream"),
            size=len(data),
            sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        )
        data_store.update(
            [
                {
                    "blob_uuid": ref.blob_uuid,
                    "graph_id": doc.graph_id,
                    "kind": kind,
                    "content_type": ref.content_type,
                    "sha1": ref.sha1,
                    "encoding": "base64",
                    "data": base64.b64encode(data).decode("ascii"),
                }
            ],
            key="blob_uuid",
        )
        refs.append(ref)
    return doc.model_copy(update={"artefacts": refs})


def load_artefact(data_store: Store, ref: ArtefactRef) -> bytes:
    """Read an artefact's bytes back from the data store.

    Raises
    ------
    KeyError
        If it is not there or its bytes do not match the reference.
    """
    found = data_store.query_one({"blob_uuid": ref.blob_uuid})
    if found is None:
        raise KeyError(f"artefact {ref.blob_uuid} is not in the data store")
    data = base64.b64decode(found["data"])
    if hashlib.sha1(data, usedforsecurity=False).hexdigest() != ref.sha1:
        raise KeyError(f"artefact {ref.blob_uuid} does not match its SHA-1")
    return data


def store_graph(store: Store, doc: CausalGraphDoc) -> None:
    """Write a graph document into the causal_graphs store (replacing its id)."""
    store.update([doc.model_dump(mode="json")], key="graph_id")


def latest_graph(
    store: Store, target: str | None = None, source: str = HYDRIDE_SOURCE
) -> CausalGraphDoc | None:
    """Return the newest graph of a source (and target), or None.

    Parameters
    ----------
    store
        The causal_graphs store.
    target
        Only graphs of this target (any when None).
    source
        Only graphs found on this data source.
    """
    criteria: dict[str, Any] = {"data.source": source}
    if target is not None:
        criteria["target"] = target
    docs = list(store.query(criteria))
    if not docs:
        return None
    newest = max(docs, key=lambda d: str(d.get("last_updated")))
    newest.pop("_id", None)
    return CausalGraphDoc.model_validate(newest)


def selected_features(store: Store, target: str = "storage_score") -> list[str]:
    """Return the features the newest hydride graph selected for a target.

    Later stages call this to read the stage's result.

    Raises
    ------
    LookupError
        If no graph of the hydrides for that target is stored.
    """
    doc = latest_graph(store, target)
    if doc is None:
        raise LookupError(
            f"no causal graph of the hydrides for {target!r}; run `matforge causal`"
        )
    return list(doc.selected_features)


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


@dataclass
class CausalDiscoveryMaker(Maker):
    """Causal discovery (FCI) over the hydride features, as a jobflow job.

    The job loads the matforge settings where it runs (environment, YAML
    file), reads the hydrides through their store factory, writes the
    :class:`~matforge.schemas.causal.CausalGraphDoc` into ``causal_graphs``
    and its picture into the data store, and returns the document.

    Parameters
    ----------
    name
        Name of the job.
    causal
        Causal settings; None takes ``settings.causal`` where the job runs.
    artefacts
        Render and store the PNG, DOT and table CSV.
    """

    name: str = "causal discovery"
    causal: CausalSettings | None = None
    artefacts: bool = True

    @job
    def make(self, after: Any = None) -> CausalGraphDoc:
        """Run the stage.

        Parameters
        ----------
        after
            Output of an earlier job (e.g. the ingest); unused, it only orders
            the flow.

        Returns
        -------
        CausalGraphDoc
            The stored document.
        """
        from matforge.settings import load_settings
        from matforge.stores import StoreFactory

        settings = load_settings()
        causal = self.causal if self.causal is not None else settings.causal
        with StoreFactory(settings) as factory:
            doc, _ = run_causal_stage(factory, causal, artefacts=self.artefacts)
        return doc
