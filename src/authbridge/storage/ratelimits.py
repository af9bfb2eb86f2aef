"""Fixed-window failure counters shared by every replica through the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, case, delete, select
from sqlalchemy.orm import Session

from authbridge.storage.database import Database
from authbridge.storage.models import RateLimitCounter
from authbridge.storage.upsert import insert_for

__all__ = ["RateLimitStore"]

_counters: Table = RateLimitCounter.__table__  # type: ignore[assignment]
# Read before every password check: built once, so SQLAlchemy neither rebuilds the statement
# nor recomputes its cache key per sign-in.
_LIVE_COUNTS = select(_counters.c.key, _counters.c["count"]).where(
    _counters.c.key.in_(bindparam("keys", expanding=True)),
    _counters.c.window_start > bindparam("since"),
)


class RateLimitStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def hit(self, key: str, *, now: datetime, window: timedelta) -> int:
        """Count one event for `key`; a window older than `window` starts over. Atomic."""
        table = RateLimitCounter.__table__
        with self._db.session() as session:
            stale = table.c.window_start <= now - window
            stmt = insert_for(session, table).values(key=key, window_start=now, count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((stale, 1), else_=table.c.count + 1),
                    "window_start": case((stale, now), else_=table.c.window_start),
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

    def delete_stale(self, before: datetime) -> int:
        """Drop counters whose window started before `before` (they count nothing any more)."""
        with self._db.session() as session:
            result = session.execute(
                delete(RateLimitCounter).where(RateLimitCounter.window_start < before)
            )
            return int(getattr(result, "rowcount", 0) or 0)
