"""Causal graphs: documents in ``causal_graphs``, their pictures in the data store.

Large bytes (the PNG, the DOT source and the table the graph was found on)
go to the data store; the graph document keeps references to them.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from matforge.schemas.causal import ArtefactRef, CausalGraphDoc

if TYPE_CHECKING:
    from maggma.core import Store

HYDRIDE_SOURCE = "collection:hydrides"
"""The data source of graphs found on the stored hydrides."""

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


def graph_png(
    causal_graphs: Store, data_store: Store, graph_id: str | None
) -> bytes | None:
    """Return the stored picture of a graph, or None when there is none."""
    if graph_id is None:
        return None
    doc = causal_graphs.query_one({"graph_id": graph_id})
    if doc is None:
        return None
    doc.pop("_id", None)
    graph = CausalGraphDoc.model_validate(doc)
    for ref in graph.artefacts:
        if ref.kind == "png":
            try:
                return load_artefact(data_store, ref)
            except KeyError:
                return None
    return None
