"""Small named values shared by replicas: generated once, then read by everyone."""

from __future__ import annotations

from sqlalchemy import delete, select

from authbridge.storage.database import Database
from authbridge.storage.models import KeyValue, utcnow
from authbridge.storage.upsert import insert_for

__all__ = ["KeyValueStore"]


class KeyValueStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, name: str) -> str | None:
        with self._db.session() as session:
            return session.scalar(select(KeyValue.value).where(KeyValue.name == name))

    def put(self, name: str, value: str) -> None:
        table = KeyValue.__table__
        with self._db.session() as session:
            stmt = insert_for(session, table).values(name=name, value=value, updated_at=utcnow())
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[table.c.name], set_={"value": value, "updated_at": utcnow()}
                )
            )

    def put_if_absent(self, name: str, value: str) -> str:
        """Store `value` unless a value exists; return whichever value is stored (race-safe)."""
        table = KeyValue.__table__
        with self._db.session() as session:
            stmt = insert_for(session, table).values(name=name, value=value, updated_at=utcnow())
            session.execute(stmt.on_conflict_do_nothing(index_elements=[table.c.name]))
        stored = self.get(name)
        assert stored is not None
        return stored

    def delete(self, name: str) -> bool:
        with self._db.session() as session:
            result = session.execute(delete(KeyValue).where(KeyValue.name == name))
            return bool(getattr(result, "rowcount", 0))
