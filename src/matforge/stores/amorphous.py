"""Queries and writes of the amorphous campaign's collections.

- ``amorphous_diffusivity``: one document per table row (``entry_id``);
- ``models``: the RF / XGBoost / SISSO model documents (``model_id``), their
  weights in the data store;
- ``amorphous_md``: melt-quench MD summaries (``md_id``), trajectories in the
  data store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matforge.errors import DataNotFoundError
from matforge.stores.artefacts import get_bytes, put_bytes
from matforge.stores.writes import UpsertResult, upsert_documents

if TYPE_CHECKING:
    from matforge.schemas.amorphous import (
        AmorphousDiffusivityDoc,
        AmorphousMDDoc,
        AmorphousModelDoc,
    )
    from matforge.schemas.reject import RejectDoc
    from matforge.stores.factory import StoreFactory

TABLE = "amorphous_diffusivity"
MD = "amorphous_md"
MODELS = "models"


@dataclass
class TableWrite:
    """What writing the table did."""

    documents: UpsertResult
    rejected: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        """Return the summary printed by ``matforge amorphous ingest --json``."""
        return {
            "ingested": len(self.documents.inserted),
            "updated": len(self.documents.updated),
            "unchanged": len(self.documents.unchanged),
            "rejected": self.rejected,
        }


def write_table(
    factory: StoreFactory,
    docs: Sequence[AmorphousDiffusivityDoc],
    rejects: Sequence[RejectDoc] = (),
) -> TableWrite:
    """Upsert the table's documents and its rejects (unchanged rows stay)."""
    result = upsert_documents(
        factory.store(TABLE), [doc.model_dump() for doc in docs], "entry_id"
    )
    bad = [r.model_dump() for r in rejects]
    if bad:
        upsert_documents(
            factory.store("rejects"), bad, "reject_id", hash_field="reason"
        )
    return TableWrite(result, [{"input": r.input, "reason": r.reason} for r in rejects])


def load_table(factory: StoreFactory) -> list[dict[str, Any]]:
    """Return the table's documents in file row order (the authors' split needs it)."""
    docs = list(factory.store(TABLE).query(criteria={}, properties={"_id": 0}))
    if not docs:
        raise DataNotFoundError(
            "the amorphous_diffusivity collection is empty: run "
            "`matforge amorphous ingest` first"
        )
    return sorted(docs, key=lambda d: d["row"])


def save_model(
    factory: StoreFactory, doc: AmorphousModelDoc, weights: bytes | None
) -> str:
    """Store a model document and its weights (data store key on the document)."""
    if weights is not None:
        key = f"{doc.model_id}-weights"
        put_bytes(factory.data_store(), key, weights, kind=doc.kind)
        doc = doc.model_copy(update={"weights_blob": key})
    upsert_documents(
        factory.store(MODELS), [doc.model_dump()], "model_id", hash_field="table_hash"
    )
    return doc.model_id


def load_model(
    factory: StoreFactory, model_id: str
) -> tuple[dict[str, Any], bytes | None]:
    """Return a model document and its weights."""
    doc = factory.store(MODELS).query_one({"model_id": model_id}, properties={"_id": 0})
    if doc is None:
        raise DataNotFoundError(f"no model {model_id!r} in the models collection")
    blob = doc.get("weights_blob")
    return doc, get_bytes(factory.data_store(), blob) if blob else None


def amorphous_models(factory: StoreFactory) -> list[dict[str, Any]]:
    """Return every amorphous-campaign model document, newest first."""
    docs = factory.store(MODELS).query(
        criteria={"model_id": {"$regex": "^amorph-"}}, properties={"_id": 0}
    )
    return sorted(docs, key=lambda d: d.get("last_updated"), reverse=True)


def save_md(
    factory: StoreFactory,
    doc: AmorphousMDDoc,
    trajectories: Sequence[bytes],
    quenched: dict[str, Any] | None = None,
) -> str:
    """Store an MD summary; trajectories (npz) and the quenched cell as artefacts."""
    data = factory.data_store()
    fits = []
    for fit, payload in zip(doc.fits, trajectories, strict=True):
        key = f"{doc.md_id}-{fit.temperature:g}K-trajectory"
        put_bytes(data, key, payload, format="npz")
        fits.append(fit.model_copy(update={"trajectory_blob": key}))
    update: dict[str, Any] = {"fits": fits}
    if quenched is not None:
        import json

        key = f"{doc.md_id}-quenched"
        put_bytes(data, key, json.dumps(quenched).encode(), format="pymatgen-json")
        update["quench_structure_blob"] = key
    doc = doc.model_copy(update=update)
    factory.store(MD).update([doc.model_dump()], key="md_id")
    return doc.md_id


def table_entries(factory: StoreFactory, formula: str) -> list[dict[str, Any]]:
    """Return the table's documents of one composition (any formula spelling)."""
    from pymatgen.core import Composition

    reduced = Composition(formula).reduced_formula
    docs = factory.store(TABLE).query(
        criteria={"reduced_formula": reduced}, properties={"_id": 0}
    )
    return sorted(docs, key=lambda d: d["temperature"])


def table_volumes(factory: StoreFactory, formula: str) -> dict[float, float]:
    """Return the AIMD volume per atom (descriptor AAV, Å^3) by temperature."""
    return {
        float(d["temperature"]): float(d["descriptors"]["AAV"])
        for d in table_entries(factory, formula)
    }
