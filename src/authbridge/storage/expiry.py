"""Expiry is storage's job: each store deletes its own lapsed rows, a bounded batch at a time.

After Dex's `storage.GarbageCollect` and node-oidc-provider's adapters: the store that
writes a row knows when it lapses, so the caller (housekeeping) only says "now" and how
many rows one call may delete, and repeats while a call deletes a full batch. Bounded
batches keep each transaction (and its locks) short on a large backlog.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, Table, delete, select

from authbridge.storage.database import Database

__all__ = ["DEFAULT_BATCH", "MAX_BATCHES", "GarbageCollected", "collect", "delete_batch"]

DEFAULT_BATCH = 1000
# Batches one store may run per round: a large backlog is worked off over several rounds
# rather than in one long burst of writes.
MAX_BATCHES = 50


class GarbageCollected(Protocol):
    """A store whose rows expire."""

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete at most `batch` rows that have expired by `now`; return how many."""
        ...


def delete_batch(db: Database, table: Table, expired: ColumnElement[bool], batch: int) -> int:
    """Delete at most `batch` rows of `table` matching `expired` in one short transaction.

    `DELETE ... WHERE pk IN (SELECT pk ... LIMIT n)`: portable to SQLite and PostgreSQL
    (neither takes DELETE ... LIMIT in its default build).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    (key,) = table.primary_key.columns
    chosen = select(key).where(expired).limit(batch)
    with db.session() as session:
        result = session.execute(delete(table).where(key.in_(chosen)))
        return int(getattr(result, "rowcount", 0) or 0)


def collect(
    store: GarbageCollected,
    now: datetime,
    *,
    batch: int = DEFAULT_BATCH,
    max_batches: int = MAX_BATCHES,
) -> int:
    """Run `store`'s garbage collection in batches until one deletes fewer than `batch`
    rows (nothing left) or `max_batches` ran; return how many rows were deleted."""
    total = 0
    for _ in range(max_batches):
        deleted = store.garbage_collect(now, batch)
        total += deleted
        if deleted < batch:
            break
    return total
