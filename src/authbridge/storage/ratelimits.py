"""Fixed-window failure counters shared by every replica through the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.loop_io import offloadable_methods
from authbridge.storage.models import RateLimitCounter
from authbridge.storage.upsert import insert_for

__all__ = ["RateLimitStore"]

_counters: Table = RateLimitCounter.__table__  # type: ignore[assignment]
# How long a counter without an expiry is kept: far longer than the limiters' windows
# (15 minutes by default, for sign-ins and device-code guesses alike).
LEGACY_WINDOW = timedelta(days=1)
# Read before every password check: built once, so SQLAlchemy neither rebuilds the statement
# nor recomputes its cache key per sign-in.
_LIVE_COUNTS = select(_counters.c.key, _counters.c["count"]).where(
    _counters.c.key.in_(bindparam("keys", expanding=True)),
    _counters.c.window_start > bindparam("since"),
)


# Grants on the event loop run these in a grant thread (storage/loop_io.py).
@offloadable_methods()
class RateLimitStore:
    """The database's `RateCounter` (`counters.py`): one row per key, swept by housekeeping."""

    remote = False  # a call is a local statement on SQLite (see `RateCounter.remote`)

    def __init__(self, db: Database) -> None:
        self._db = db

    def hit(self, key: str, *, now: datetime, window: timedelta) -> int:
        """Count one event for `key`; a window older than `window` starts over. Atomic.

        The counter's expiry is the end of its window: garbage collection needs nothing else
        (limiters with different windows share the table).
        """
        table = RateLimitCounter.__table__
        with self._db.session() as session:
            stale = table.c.window_start <= now - window
            ends = now + window
            stmt = insert_for(session, table).values(
                key=key, window_start=now, count=1, expires_at=ends
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((stale, 1), else_=table.c.count + 1),
                    "window_start": case((stale, now), else_=table.c.window_start),
                    "expires_at": case(
                        (stale, ends), else_=func.coalesce(table.c.expires_at, ends)
                    ),
                },
            )
            session.execute(stmt)
            return self._count(session, key, now, window)

    def counts(self, keys: list[str], *, now: datetime, window: timedelta) -> dict[str, int]:
        """Current counts of several keys in one query (keys absent or lapsed count 0)."""
        with self._db.engine.connect() as connection:
            rows = connection.execute(_LIVE_COUNTS, {"keys": keys, "since": now - window})
            return {key: count for key, count in rows}

    def count(self, key: str, *, now: datetime, window: timedelta) -> int:
        with self._db.session() as session:
            return self._count(session, key, now, window)

    @staticmethod
    def _count(session: Session, key: str, now: datetime, window: timedelta) -> int:
        row = session.scalar(select(RateLimitCounter).where(RateLimitCounter.key == key))
        if row is None or row.window_start <= now - window:
            return 0
        return row.count

    def clear(self, key: str) -> None:
        with self._db.session() as session:
            session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))

    def release(self, key: str, *, now: datetime, window: timedelta) -> None:
        """One conditional UPDATE: never below zero, never into a window that lapsed."""
        with self._db.session() as session:
            session.execute(
                update(_counters)
                .where(
                    _counters.c.key == key,
                    _counters.c["count"] > 0,
                    _counters.c.window_start > now - window,
                )
                .values(count=_counters.c["count"] - 1)
            )

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete up to `batch` counters whose window has ended, each by its own window.

        A counter written before counters had an expiry (migration 0002_expiry) has none;
        it is dropped once its window started longer ago than any limiter's window.
        """
        expired = or_(
            _counters.c.expires_at < now,
            and_(_counters.c.expires_at.is_(None), _counters.c.window_start < now - LEGACY_WINDOW),
        )
        return delete_batch(self._db, _counters, expired, batch)
