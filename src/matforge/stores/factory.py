"""Build every named collection and the jobflow ``JobStore`` from the settings.

One factory, one database: a flow, a builder and the command line that share
settings see the same documents.

- no URI: embedded and persistent, maggma ``MontyStore`` (montydb, sqlite)
  under ``<home>/db``; large bytes in a montydb collection too;
- ``mongodb://`` / ``mongodb+srv://``: maggma ``MongoStore`` on a MongoDB
  server, large bytes in GridFS;
- ``memory://NAME``: maggma ``MemoryStore`` (mongomock), shared by every factory
  of the process that names the same ``NAME``; for tests.
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from maggma.stores import GridFSStore, MemoryStore, MongoStore, MontyStore

from matforge.errors import ConfigError, DatabaseUnreachableError
from matforge.stores.uri import backend_of, hosts_of, mask_uri, split_credentials

if TYPE_CHECKING:
    from jobflow import JobStore
    from maggma.core import Store

    from matforge.settings import MatforgeSettings

logger = logging.getLogger(__name__)

COLLECTIONS: dict[str, str] = {
    "hydrides": "material_id",
    "rejects": "reject_id",
    "references": "material_id",
    "causal_graphs": "graph_id",
    "models": "model_id",
    "generated": "generated_id",
    "relaxed": "relaxed_id",
    "candidates": "candidate_id",
    "dft_tasks": "task_id",
    "optimade_structures": "id",
    "runs": "stage_id",
    "elemental_refs": "ref_id",
    "calibrations": "calibration_id",
    "amorphous_diffusivity": "entry_id",
    "amorphous_md": "md_id",
    "computed_phases": "phase_id",
}
"""Every named collection and the field that identifies its documents."""

JOBS_COLLECTION = "jobs"
DATA_COLLECTION = "artefacts"

# memory:// stores live as long as the process, shared by name.
_MEMORY: dict[tuple[str, str], Store] = {}

# The factory behind each JobStore this process made, so a job that jobflow
# runs here with that JobStore writes through the same open database.
_BY_JOB_STORE: dict[int, tuple[weakref.ref, StoreFactory]] = {}


class StoreFactory:
    """Make (and cache) the stores of one database.

    Parameters
    ----------
    settings
        The matforge settings; ``settings.store`` selects the database.
    """

    def __init__(self, settings: MatforgeSettings) -> None:
        self.settings = settings
        secret = settings.store.uri
        self._uri = secret.get_secret_value() if secret is not None else None
        try:
            self.backend = backend_of(self._uri)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._stores: dict[str, Store] = {}
        self._checked = False
        self._owner = True

    def with_settings(self, settings: MatforgeSettings) -> StoreFactory:
        """Return a factory on the same open database with other (job) settings.

        The two share their connections; closing the new one closes nothing.
        The database is this factory's: ``settings.store`` and ``home`` are not
        looked at.
        """
        other = StoreFactory.__new__(StoreFactory)
        other.__dict__.update(self.__dict__)
        other.settings = settings.model_copy(
            update={"store": self.settings.store, "home": self.settings.home}
        )
        other._owner = False
        return other

    @staticmethod
    def of_job_store(job_store: object) -> StoreFactory | None:
        """Return the factory that made a JobStore in this process, or None."""
        found = _BY_JOB_STORE.get(id(job_store))
        if found is None or found[0]() is not job_store:
            return None
        return found[1]

    # -- description -------------------------------------------------------
    @property
    def database_path(self) -> Path:
        """Folder of the embedded database."""
        return self.settings.home_dir / "db"

    @property
    def location(self) -> str:
        """Where the documents live, with no password in it."""
        if self.backend == "embedded":
            return f"embedded montydb at {self.database_path}"
        assert self._uri is not None
        if self.backend == "memory":
            return f"in-memory store {self._uri}"
        return (
            f"MongoDB {mask_uri(self._uri)} (database {self.settings.store.database})"
        )

    # -- construction ------------------------------------------------------
    def _mongo_kwargs(self) -> tuple[str, dict]:
        assert self._uri is not None
        bare, user, password = split_credentials(self._uri)
        user = user or self.settings.store.username
        if password is None and self.settings.store.password is not None:
            password = self.settings.store.password.get_secret_value()
        timeout_ms = int(self.settings.store.timeout_s * 1000)
        kwargs: dict = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            "socketTimeoutMS": max(timeout_ms, 60_000),
        }
        if user is not None:
            kwargs["username"] = user
        if password is not None:
            kwargs["password"] = password
        return bare, kwargs

    def _make(self, name: str, key: str) -> Store:
        database = self.settings.store.database
        if self.backend == "embedded":
            return MontyStore(
                name,
                database_path=str(self.database_path),
                database_name=database,
                storage="sqlite",
                key=key,
            )
        if self.backend == "memory":
            assert self._uri is not None
            return _MEMORY.setdefault((self._uri, name), MemoryStore(name, key=key))
        uri, kwargs = self._mongo_kwargs()
        return MongoStore(
            database=database,
            collection_name=name,
            uri=uri,
            key=key,
            mongoclient_kwargs=kwargs,
        )

    def _connect(self, store: Store) -> Store:
        if self.backend == "embedded":
            self.database_path.mkdir(parents=True, exist_ok=True)
        try:
            store.connect()
        except Exception as exc:
            raise self._unreachable(exc) from None
        return store

    def store(self, name: str) -> Store:
        """Return the connected store of a named collection.

        Parameters
        ----------
        name
            One of :data:`COLLECTIONS`.

        Returns
        -------
        maggma.core.Store
            The store, connected.
        """
        if name not in COLLECTIONS:
            known = ", ".join(COLLECTIONS)
            raise KeyError(f"unknown collection {name!r}; known: {known}")
        if name not in self._stores:
            self.check()
            store = self._connect(self._make(name, COLLECTIONS[name]))
            if self.backend != "embedded":  # montydb has no indexes
                store.ensure_index(COLLECTIONS[name], unique=True)
            self._stores[name] = store
        return self._stores[name]

    def data_store(self) -> Store:
        """Return the store of large bytes (montydb collection or GridFS)."""
        if DATA_COLLECTION not in self._stores:
            self.check()
            if self.backend == "mongodb":
                uri, kwargs = self._mongo_kwargs()
                store: Store = GridFSStore(
                    database=self.settings.store.database,
                    collection_name=DATA_COLLECTION,
                    uri=uri,
                    mongoclient_kwargs=kwargs,
                )
            else:
                store = self._make(DATA_COLLECTION, "blob_uuid")
            self._stores[DATA_COLLECTION] = self._connect(store)
        return self._stores[DATA_COLLECTION]

    def job_store(self) -> JobStore:
        """Return the jobflow ``JobStore``: job outputs plus a ``data`` store."""
        from jobflow import JobStore

        if JOBS_COLLECTION not in self._stores:
            self.check()
            docs = self._make(JOBS_COLLECTION, "uuid")
            self._stores[JOBS_COLLECTION] = self._connect(docs)
        job_store = JobStore(
            self._stores[JOBS_COLLECTION],
            additional_stores={"data": self.data_store()},
        )
        key = id(job_store)
        _BY_JOB_STORE[key] = (
            weakref.ref(job_store, lambda _ref: _BY_JOB_STORE.pop(key, None)),
            self,
        )
        return job_store

    # -- health ------------------------------------------------------------
    def _unreachable(self, exc: BaseException) -> DatabaseUnreachableError:
        if self.backend == "mongodb":
            assert self._uri is not None
            where = f"MongoDB at {hosts_of(self._uri)}"
        else:
            where = self.location
        reason = mask_uri(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if len(reason) > 200:
            reason = reason[:200] + "..."
        return DatabaseUnreachableError(
            f"cannot reach {where} (database {self.settings.store.database!r}) "
            f"within {self.settings.store.timeout_s:g} s: {reason}"
        )

    def check(self) -> None:
        """Make sure the database answers; raise one clear error if it does not.

        Raises
        ------
        DatabaseUnreachableError
            The MongoDB server did not answer within ``store.timeout_s`` or
            refused the credentials.
        """
        if self._checked or self.backend != "mongodb":
            self._checked = True
            return
        from maggma.stores import mongolike

        uri, kwargs = self._mongo_kwargs()
        try:
            client = mongolike.MongoClient(uri, **kwargs)
            try:
                client.admin.command("ping")
            finally:
                client.close()
        except Exception as exc:
            raise self._unreachable(exc) from None
        self._checked = True

    def counts(self) -> dict[str, int]:
        """Return the number of documents in every named collection."""
        return {name: self.store(name).count() for name in COLLECTIONS}

    def close(self) -> None:
        """Close every store this factory opened (memory stores stay alive)."""
        if not self._owner:
            return
        for name, store in list(self._stores.items()):
            if self.backend != "memory":
                try:
                    store.close()
                except Exception:
                    logger.debug("could not close store %s", name)
            del self._stores[name]

    def __enter__(self) -> StoreFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get_factory(settings: MatforgeSettings | None = None) -> StoreFactory:
    """Return a store factory for the given settings (default: loaded ones)."""
    if settings is None:
        from matforge.settings import load_settings

        settings = load_settings()
    return StoreFactory(settings)
