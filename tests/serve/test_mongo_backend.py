"""The server on a real MongoDB: queries go to the optimade_structures collection.

Runs only when MATFORGE_TEST_MONGO_URI names a server (``-m mongo``).
"""

from __future__ import annotations

import os
import uuid

import pytest
from fastapi.testclient import TestClient
from serve_helpers import candidate_docs, hydride_docs, store_sources

from matforge.builders.optimade import build_optimade
from matforge.serve.app import create_app
from matforge.serve.collections import MongoStructures
from matforge.settings import load_settings
from matforge.stores import StoreFactory


@pytest.mark.mongo
def test_serving_from_mongodb(shared_data, tmp_path):
    settings = load_settings(
        home=tmp_path,
        store={
            "uri": os.environ["MATFORGE_TEST_MONGO_URI"],
            "database": f"matforge_test_{uuid.uuid4().hex[:8]}",
        },
    )
    with StoreFactory(settings) as factory:
        try:
            store_sources(
                factory, candidate_docs(shared_data, 20), hydride_docs(shared_data, 10)
            )
            build_optimade(factory, progress=False)
            entries = list(
                factory.store("optimade_structures")._collection.find({}, {"_id": 0})
            )
            app = create_app(settings, factory)
            assert isinstance(app.state.structures, MongoStructures)
            client = TestClient(app)
            body = client.get(
                "/v1/structures",
                params={
                    "filter": 'elements HAS "H" AND _matforge_is_novel=TRUE',
                    "response_fields": "id,last_modified",
                    "page_limit": 100,
                },
            ).json()
            expected = {e["id"] for e in entries if e.get("is_novel") is True}
            assert {d["id"] for d in body["data"]} == expected
            assert body["data"][0]["attributes"]["last_modified"].endswith("Z")
            missing = client.get("/v1/structures/no-such-entry")
            assert missing.status_code == 404
            entry = entries[0]["id"]
            cif = client.get(f"/extensions/matforge/structures/{entry}.cif")
            assert cif.status_code == 200
        finally:
            client_db = factory.store("optimade_structures")._collection.database
            client_db.client.drop_database(settings.store.database)
