"""Large bytes (checkpoints, histories) in the data store, by key."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from matforge.errors import DataNotFoundError

if TYPE_CHECKING:
    from maggma.core import Store


def put_bytes(store: Store, key: str, payload: bytes, **metadata: Any) -> str:
    """Store bytes under ``key`` (base64 text: works on montydb and GridFS)."""
    doc = {
        "blob_uuid": key,
        "encoding": "base64",
        "data": base64.b64encode(payload).decode("ascii"),
        **metadata,
    }
    store.update([doc], key="blob_uuid")
    return key


def get_bytes(store: Store, key: str) -> bytes:
    """Return the bytes stored under ``key``."""
    doc = store.query_one({"blob_uuid": key})
    if doc is None:
        raise DataNotFoundError(f"no artefact {key!r} in the data store")
    return base64.b64decode(doc["data"])


def put_json(store: Store, key: str, payload: Any, **metadata: Any) -> str:
    """Store a JSON-able payload under ``key``."""
    return put_bytes(store, key, json.dumps(payload).encode("utf-8"), **metadata)


def get_json(store: Store, key: str) -> Any:
    """Return the JSON payload stored under ``key``."""
    return json.loads(get_bytes(store, key).decode("utf-8"))
