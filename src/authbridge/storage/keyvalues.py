"""Small named values shared by replicas: generated once, then read by everyone.

A value may expire (a pending IdP login): past its `expires_at` it reads as absent at
once, and `garbage_collect` deletes it later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, or_, select

from authbridge.clock import utcnow
from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.models import KeyValue
from authbridge.storage.upsert import insert_for

__all__ = ["KeyValueStore"]

_values: Table = KeyValue.__table__  # type: ignore[assignment]
# The `name` column's length: checked here so that SQLite (which does not enforce VARCHAR
# lengths) refuses what PostgreSQL would, and a too-long name fails in every test run.
MAX_NAME = 64


def _checked(name: str) -> str:
    if len(name) > MAX_NAME:
        raise ValueError(f"a key-value name holds at most {MAX_NAME} characters: {name[:16]}...")
    return name


class KeyValueStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, name: str, *, now: datetime | None = None) -> str | None:
        """The value, or None when there is none or it has expired by `now`."""
        live = or_(_values.c.expires_at.is_(None), _values.c.expires_at > (now or utcnow()))
        with self._db.session() as session:
            return session.scalar(select(_values.c.value).where(_values.c.name == name, live))

    def put(self, name: str, value: str, *, expires_at: datetime | None = None) -> None:
        """Store `value` under `name`, replacing any; it lapses at `expires_at` if given."""
        self._upsert(_checked(name), value, expires_at, utcnow())

    def _upsert(
        self, name: str, value: str, expires_at: datetime | None, now: datetime, where: Any = None
    ) -> None:
        """INSERT, or on a taken name UPDATE (only where `where` holds of the stored row)."""
        with self._db.session() as session:
            stmt = insert_for(session, _values).values(
                name=name, value=value, updated_at=now, expires_at=expires_at
            )
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_values.c.name],
                    set_={"value": value, "updated_at": now, "expires_at": expires_at},
                    where=where,
                )
            )

    def put_if_absent(self, name: str, value: str) -> str:
        """Store `value` unless a value exists; return whichever value is stored (race-safe).
        For values that never expire (the CSRF key)."""
        with self._db.session() as session:
            stmt = insert_for(session, _values).values(
                name=_checked(name), value=value, updated_at=utcnow()
            )
            session.execute(stmt.on_conflict_do_nothing(index_elements=[_values.c.name]))
        stored = self.get(name)
        assert stored is not None
        return stored

    def put_unless_live(
        self, name: str, value: str, *, expires_at: datetime, now: datetime | None = None
    ) -> bool:
        """Store `value` (lapsing at `expires_at`) unless a live value exists; True if this
        call stored it. One statement, so of replicas racing exactly one wins; an expired
        value, or one stored without expiry, is replaced."""
        now = now or utcnow()
        lapsed = or_(_values.c.expires_at.is_(None), _values.c.expires_at <= now)
        self._upsert(_checked(name), value, expires_at, now, lapsed)
        return self.get(name, now=now) == value

    def expires_at(self, name: str) -> datetime | None:
        """When the value lapses (None: no value, or one that never lapses)."""
        with self._db.session() as session:
            return session.scalar(select(_values.c.expires_at).where(_values.c.name == name))

    def delete(self, name: str) -> bool:
        with self._db.session() as session:
            result = session.execute(delete(KeyValue).where(KeyValue.name == name))
            return bool(getattr(result, "rowcount", 0))

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete up to `batch` values that expired by `now` (values without expiry stay)."""
        return delete_batch(self._db, _values, _values.c.expires_at < now, batch)
