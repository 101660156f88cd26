import subprocess
import sys
import time

import mongomock_ng
import mongomock_ng.gridfs
import mongomock_ng.store
import pytest
from maggma.stores import GridFSStore, MemoryStore, MongoStore, MontyStore

from matforge.errors import ConfigError, DatabaseUnreachableError
from matforge.settings import load_settings
from matforge.stores import COLLECTIONS, StoreFactory, mask_uri, upsert_documents
from matforge.stores.uri import backend_of, split_credentials


def test_uri_helpers():
    assert backend_of(None) == "embedded"
    assert backend_of("mongodb+srv://c.example.org") == "mongodb"
    assert backend_of("memory://x") == "memory"
    with pytest.raises(ValueError, match=r"postgres://u:\*\*\*\*@h"):
        backend_of("postgres://u:secret@h")
    assert (
        mask_uri("mongodb://me:s3cr%40t@h:27017/db") == "mongodb://me:****@h:27017/db"
    )
    bare, user, pw = split_credentials(
        "mongodb://me:s3cr%40t@h1:1,h2:2/db?authSource=a"
    )
    assert (bare, user, pw) == ("mongodb://h1:1,h2:2/db?authSource=a", "me", "s3cr@t")


def test_every_collection_and_the_job_store(memory_factory):
    for name, key in COLLECTIONS.items():
        store = memory_factory.store(name)
        assert isinstance(store, MemoryStore)
        assert store.key == key
    job_store = memory_factory.job_store()
    assert set(job_store.additional_stores) == {"data"}
    with pytest.raises(KeyError, match="unknown collection"):
        memory_factory.store("nope")


def test_memory_stores_are_shared_by_name(memory_settings):
    with StoreFactory(memory_settings) as first:
        first.store("hydrides").update([{"material_id": "a", "x": 1}])
    with StoreFactory(memory_settings) as second:
        assert second.store("hydrides").count() == 1


def test_embedded_store_persists_across_processes(embedded_settings):
    with StoreFactory(embedded_settings) as factory:
        assert factory.backend == "embedded"
        store = factory.store("hydrides")
        assert isinstance(store, MontyStore)
        upsert_documents(store, [{"material_id": "mp-1", "content_hash": "h", "v": 2}])
        blob = factory.data_store()
        blob.update([{"blob_uuid": "b1", "data": "x" * 100_000}])
    home = embedded_settings.home
    code = (
        "from matforge.settings import load_settings; from matforge.stores import "
        f"StoreFactory; f = StoreFactory(load_settings(home=r'{home}')); "
        "print(f.store('hydrides').query_one({'material_id': 'mp-1'})['v'], "
        "len(f.data_store().query_one({'blob_uuid': 'b1'})['data']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert out.stdout.split() == ["2", "100000"], out.stderr


def test_upsert_keeps_unchanged_documents(memory_factory):
    store = memory_factory.store("hydrides")
    docs = [{"material_id": f"m{i}", "content_hash": str(i), "t": 0} for i in range(5)]
    first = upsert_documents(store, docs)
    assert len(first.inserted) == 5
    changed = [dict(d, t=1) for d in docs]
    changed[2]["content_hash"] = "new"
    second = upsert_documents(store, changed)
    assert second.updated == ["m2"]
    assert len(second.unchanged) == 4
    assert store.count() == 5
    assert store.query_one({"material_id": "m0"})["t"] == 0  # untouched
    assert store.query_one({"material_id": "m2"})["t"] == 1


@pytest.fixture
def mongomock_server(monkeypatch):
    """Route maggma's MongoDB clients (documents and GridFS) to mongomock."""
    from maggma.stores import gridfs, mongolike

    mongomock_ng.gridfs.enable_gridfs_integration()
    shared = mongomock_ng.store.ServerStore()

    def client(*args, **kwargs):
        return mongomock_ng.MongoClient(*args, _store=shared, **kwargs)

    monkeypatch.setattr(mongolike, "MongoClient", client)
    monkeypatch.setattr(gridfs, "MongoClient", client)
    return client("mongodb://db.example.org:27017")


def test_mongodb_path_with_mongomock(mongomock_server):
    settings = load_settings(
        store={"uri": "mongodb://alice:wonder@db.example.org:27017", "database": "mf"}
    )
    with StoreFactory(settings) as factory:
        assert factory.backend == "mongodb"
        assert "wonder" not in factory.location
        store = factory.store("hydrides")
        assert isinstance(store, MongoStore)
        assert "wonder" not in store.name  # maggma prints store names in logs
        upsert_documents(store, [{"material_id": "mp-1", "content_hash": "a"}])
        data = factory.data_store()
        assert isinstance(data, GridFSStore)
        data.update(
            [{"blob_uuid": "b1", "data": {"big": list(range(1000))}}], key="blob_uuid"
        )
        assert data.query_one({"blob_uuid": "b1"})["data"]["big"][-1] == 999
        assert factory.counts()["hydrides"] == 1
        assert mongomock_server["mf"]["hydrides"].count_documents({}) == 1
        assert "artefacts.files" in mongomock_server["mf"].list_collection_names()


def test_unreachable_mongodb_is_one_clear_error_without_password():
    settings = load_settings(
        store={
            "uri": "mongodb://alice:wonder@127.0.0.1:9/?directConnection=true",
            "timeout_s": 1,
        }
    )
    start = time.perf_counter()
    with pytest.raises(DatabaseUnreachableError) as info:
        StoreFactory(settings).store("hydrides")
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "127.0.0.1:9" in message
    assert "wonder" not in message


def test_unsupported_uri_is_a_config_error():
    with pytest.raises(ConfigError, match="unsupported database URI"):
        StoreFactory(load_settings(store={"uri": "redis://localhost"}))


@pytest.mark.mongo
def test_real_mongodb_round_trip():
    import os
    import uuid

    settings = load_settings(
        store={
            "uri": os.environ["MATFORGE_TEST_MONGO_URI"],
            "database": f"matforge_test_{uuid.uuid4().hex[:8]}",
        }
    )
    with StoreFactory(settings) as factory:
        store = factory.store("hydrides")
        upsert_documents(store, [{"material_id": "mp-1", "content_hash": "a"}])
        assert store.count() == 1
        factory.data_store().update([{"blob_uuid": "b", "data": "x" * 10}])
        assert factory.data_store().query_one({"blob_uuid": "b"})["data"] == "x" * 10
        store._collection.database.client.drop_database(settings.store.database)
