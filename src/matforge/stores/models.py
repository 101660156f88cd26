"""Generator models: their documents, checkpoints and training histories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matforge.errors import DataNotFoundError, MatforgeError
from matforge.schemas.common import utcnow
from matforge.schemas.generator import ModelDoc
from matforge.stores.artefacts import get_bytes, get_json

if TYPE_CHECKING:
    from matforge.stores.factory import StoreFactory


def latest_model_doc(factory: StoreFactory, model_id: str | None = None) -> ModelDoc:
    """Return the named model document, or the most recently trained one.

    Raises
    ------
    DataNotFoundError
        If that model (or any model) is not in the ``models`` collection.
    """
    store = factory.store("models")
    if model_id is not None:
        doc = store.query_one({"model_id": model_id})
        if doc is None:
            raise DataNotFoundError(f"no model {model_id!r} in the models collection")
    else:
        docs = list(store.query(criteria={"kind": "cdvae"}))
        if not docs:
            raise DataNotFoundError("no trained generator; run `matforge train` first")
        doc = max(docs, key=lambda d: str(d["last_updated"]))
    doc.pop("_id", None)
    return ModelDoc.model_validate(doc)


def save_model_doc(factory: StoreFactory, doc: ModelDoc) -> None:
    """Write a model document into ``models`` (replacing its id)."""
    factory.store("models").update([doc.model_dump(mode="json")], key="model_id")


def model_checkpoint(factory: StoreFactory, doc: ModelDoc) -> bytes:
    """Return the checkpoint bytes of a model (config JSON + state_dict)."""
    return get_bytes(factory.data_store(), doc.checkpoint_blob)


def model_history(factory: StoreFactory, doc: ModelDoc) -> dict[str, Any]:
    """Return the stored training history and split of a model."""
    return get_json(factory.data_store(), doc.history_blob)


def store_metrics(
    factory: StoreFactory, model_id: str, metrics: dict[str, Any], label: str
) -> None:
    """Attach a metrics table to a model document under ``label``."""
    store = factory.store("models")
    doc = store.query_one({"model_id": model_id})
    if doc is None:
        raise MatforgeError(f"no model {model_id!r} to attach metrics to")
    doc.pop("_id", None)
    doc["metrics"] = {**(doc.get("metrics") or {}), label: metrics}
    doc["last_updated"] = utcnow().isoformat()
    store.update([doc], key="model_id")


def update_model_doc(
    factory: StoreFactory, model_id: str, fields: dict[str, Any]
) -> None:
    """Set top-level ``fields`` of a stored model document (e.g. its diagnostics).

    Raises
    ------
    MatforgeError
        If there is no such model in ``models``.
    """
    store = factory.store("models")
    doc = store.query_one({"model_id": model_id})
    if doc is None:
        raise MatforgeError(f"no model {model_id!r} to update")
    doc.pop("_id", None)
    doc.update(fields)
    doc["last_updated"] = utcnow().isoformat()
    store.update([doc], key="model_id")


def training_history(factory: StoreFactory, model_id: str | None) -> list[dict]:
    """Return a model's per-epoch history, or [] when it cannot be read."""
    if model_id is None:
        return []
    try:
        doc = latest_model_doc(factory, model_id)
        return list(model_history(factory, doc).get("history", []))
    except DataNotFoundError:
        return []
