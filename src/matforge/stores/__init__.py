"""The store factory: every collection and the jobflow JobStore on one database."""

from matforge.stores.factory import COLLECTIONS, StoreFactory, get_factory
from matforge.stores.uri import mask_uri
from matforge.stores.writes import UpsertResult, upsert_documents

__all__ = [
    "COLLECTIONS",
    "StoreFactory",
    "UpsertResult",
    "get_factory",
    "mask_uri",
    "upsert_documents",
]
