"""`WriterLock`: the lock SQLite writers of every worker process queue on.

SQLite admits one writer at a time, and its busy handler waits for the write lock by
sleeping 1, 2, 5, 10... ms. The token endpoint writes on the event loop (a refresh
rotation), so such a sleep stalls every request of that worker, and with several uvicorn
workers, or the audit log's writer thread inserting a batch beside the grants, it showed in
the refresh grant's p99 and cost the audit log about a tenth of the grants' CPU
(bench/bench_provider.py --audit). A blocking `flock` on a file beside the database wakes
the next writer as soon as the lock is released. Each `WriterLock` opens its own
descriptor, so two stores of one process exclude each other as two processes do (flock
locks belong to the open file description).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover (not on Windows)
    fcntl = None  # type: ignore[assignment]

from authbridge.storage.database import Database

__all__ = ["WriterLock"]

SUFFIX = ".provider-lock"  # the name predates the audit log's use of it; kept for upgrades


class WriterLock:
    """Held around a write transaction on an SQLite file; does nothing on another database
    (or an in-memory one). The lock file is opened at first use."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._fd: int | None = None
        self._opened = False
        self._opening = threading.Lock()

    def _descriptor(self) -> int | None:
        if not self._opened:
            with self._opening:
                if not self._opened:
                    self._fd = _open(self._db)
                    if self._fd is not None:
                        weakref.finalize(self, os.close, self._fd)
                    self._opened = True
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        fd = self._descriptor()
        if fd is None or fcntl is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _open(db: Database) -> int | None:
    if fcntl is None or db.dialect != "sqlite":
        return None
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        return os.open(path + SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
