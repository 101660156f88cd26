"""One writer per embedded store: a lock that names the process holding it.

montydb has no unique indexes and no transactions, so two processes writing
a campaign into one embedded store would both train the same generator,
relax the same crystals and insert the same documents. Every command that
writes a campaign's stages (run, expand, validate, relax-generated, and each
stage job a local FireWorks worker runs) holds this lock while it writes: a
second writer stops at once with one line naming the first one's pid.

The lock is a file in ``<home>/locks`` named after the store's location,
held with ``flock``: the system releases it when its process dies, even by
``kill -9``, so the lock of a dead process is taken over by the next writer.
It is re-entrant within a process (a campaign's stages run inside its
``run``). MongoDB and in-process stores need no lock: MongoDB's unique ids
and atomic upserts keep concurrent writers apart, and a memory store lives
in one process.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from matforge.errors import StoreBusyError

if TYPE_CHECKING:
    from matforge.stores.factory import StoreFactory

_HELD: dict[Path, tuple[IO[str], int]] = {}
_GUARD = threading.Lock()


def lock_path(factory: StoreFactory) -> Path:
    """Return the lock file of the factory's embedded store."""
    digest = hashlib.sha1(factory.location.encode(), usedforsecurity=False)
    return factory.settings.home_dir / "locks" / f"writer-{digest.hexdigest()[:12]}"


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "pid unknown"


@contextmanager
def store_writer(factory: StoreFactory, command: str) -> Iterator[Path | None]:
    """Hold the embedded store's writer lock for ``command``, or say who holds it.

    Parameters
    ----------
    factory
        The store factory (its settings name the home).
    command
        What writes (``matforge run``, ...), recorded in the lock file.

    Yields
    ------
    Path or None
        The lock file; None for stores that need no lock.

    Raises
    ------
    StoreBusyError
        If another live process holds the lock.
    """
    if factory.backend != "embedded":
        yield None
        return
    path = lock_path(factory)
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:
            _HELD[path] = (held[0], held[1] + 1)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(handle)
                handle.close()
                raise StoreBusyError(
                    f"{factory.location} is being written by another process "
                    f"({holder}); wait for it or stop it (lock: {path})"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}: {command}\n")
            handle.flush()
            _HELD[path] = (handle, 1)
    try:
        yield path
    finally:
        with _GUARD:
            handle, count = _HELD[path]
            if count > 1:
                _HELD[path] = (handle, count - 1)
            else:
                del _HELD[path]
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
