"""The audit log's table: append-only events, read newest first, kept for a retention.

Rows are only ever inserted (`append`, many rows in one INSERT) and deleted by age
(`garbage_collect`, housekeeping enforcing `audit.retentionDays`); nothing updates them.
Storage knows rows (`AuditRecord`), not the domain's `AuditEvent`: `audit/log.py` turns one
into the other, so this layer imports nothing above it.

Reads are keyset-paginated on (at, id) descending: the position is the last row's time and
id, so a page stays fast at any depth and rows appended meanwhile never shift it.

Just over 400 lines: the table, its filter and the driver-level INSERTs each backend runs
best are one concept (how an audit row is stored and found), and the INSERTs' comments
carry the measurements that chose them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Index,
    Integer,
    String,
    Table,
    and_,
    or_,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column

from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.models import Base, UTCDateTime
from authbridge.storage.sqlite_writer import WriterLock

__all__ = [
    "DEFAULT_RETENTION",
    "Alike",
    "AuditFilter",
    "AuditRecord",
    "AuditRow",
    "AuditStore",
    "insert_records",
]

DEFAULT_RETENTION = timedelta(days=90)
# Column widths: values longer than these are cut, never refused (an event is never lost
# for a long user agent).
WIDTHS = {
    "type": 64,
    "outcome": 16,
    "actor_kind": 32,
    "actor_id": 255,
    "actor_name": 255,
    "address": 64,
    "user_agent": 512,
    "request_id": 64,
    "target_type": 32,
    "target_id": 255,
    "target_name": 255,
}


class AuditRow(Base):
    __tablename__ = "audit_events"

    # BIGINT on PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(255))
    target_name: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_events_at", "at", "id"),
        Index("ix_audit_events_actor", "actor_id", "at"),
        Index("ix_audit_events_target", "target_type", "target_id", "at"),
        Index("ix_audit_events_type", "type", "at"),
    )


# A record's details when none are given: shared by every such record, so read-only.
_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})

_events: Table = AuditRow.__table__  # type: ignore[assignment]


class AuditRecord(NamedTuple):
    """One stored event, flat as its row (`id` is None until stored).

    A named tuple, immutable like the frozen dataclass it was: the audit log builds one per
    token grant, and a frozen dataclass's 14 `object.__setattr__` calls made it cost as much
    as the rest of the event's queueing (bench/bench_token.py)."""

    at: datetime
    type: str
    outcome: str
    actor_kind: str
    actor_id: str | None = None
    actor_name: str | None = None
    address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    target_name: str | None = None
    details: Mapping[str, Any] = _NO_DETAILS
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a query keeps: every field set must match. `type` ending in "." is a prefix
    (`user.` is every user event); `since` inclusive, `until` exclusive."""

    actor: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c = _events.c
        found: list[ColumnElement[bool]] = []
        if self.actor is not None:
            found.append(c.actor_id == self.actor)
        if self.target_type is not None:
            found.append(c.target_type == self.target_type)
        if self.target_id is not None:
            found.append(c.target_id == self.target_id)
        if self.type is not None:
            if self.type.endswith("."):
                # A prefix: LIKE with the pattern's own wildcards escaped.
                escaped = self.type.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                found.append(c.type.like(escaped + "%", escape="\\"))
            else:
                found.append(c.type == self.type)
        if self.since is not None:
            found.append(c.at >= self.since)
        if self.until is not None:
            found.append(c.at < self.until)
        return found


_COLUMNS = ("at", *WIDTHS, "details")
# Rows per INSERT on SQLite, 13 parameters each: under the fewest parameters a statement
# may have there (999 before SQLite 3.32). A writer's batch of 200 is three statements.
MAX_ROWS_PER_INSERT = 999 // len(_COLUMNS)


def _statement(paramstyle: str, rows: int = 1) -> str:
    """One INSERT of `rows` rows. Constant column names and placeholders only: nothing of
    a caller's is in the text."""
    marks = "(" + ", ".join(["?" if paramstyle == "qmark" else "%s"] * len(_COLUMNS)) + ")"
    columns = ", ".join(_COLUMNS)
    return f"INSERT INTO audit_events ({columns}) VALUES {', '.join([marks] * rows)}"  # noqa: S608


# json.dumps(details, default=str) without building its encoder per row (the same text).
# A token grant's details are written once per group of grants alike, not per event
# (`_statements`), so their text needs no memo of its own.
_encode_details = json.JSONEncoder(default=str).encode


def _details_json(details: Mapping[str, Any]) -> str:
    return _encode_details(dict(details))


def _parameters(records: Sequence[AuditRecord], sqlite: bool) -> list[tuple[Any, ...]]:
    """Driver-level rows. The writer stores every token grant's event: SQLAlchemy's
    per-row parameter processing cost more than the INSERT itself, so the two conversions
    it did are done here (SQLite's DATETIME text, as `UTCDateTime` writes it, and JSON).
    Long strings are cut to their column (`WIDTHS`), never refused."""
    times = _sqlite_times([r.at for r in records]) if sqlite else [_utc(r.at) for r in records]
    return [
        (
            at,
            r.type[:64],
            r.outcome[:16],
            r.actor_kind[:32],
            r.actor_id and r.actor_id[:255],
            r.actor_name and r.actor_name[:255],
            r.address and r.address[:64],
            r.user_agent and r.user_agent[:512],
            r.request_id and r.request_id[:64],
            r.target_type and r.target_type[:32],
            r.target_id and r.target_id[:255],
            r.target_name and r.target_name[:255],
            _details_json(r.details),
        )
        for at, r in zip(times, records, strict=True)
    ]


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _sqlite_time(at: datetime) -> str:
    """`at` as `UTCDateTime` writes it on SQLite: naive UTC, microseconds always."""
    return _sqlite_times((at,))[0]


def _sqlite_times(times: Sequence[datetime]) -> list[str]:
    """`_sqlite_time` of each, in one loop. A second's text is made once for a run of times
    in that second (a batch's times come in order and share few seconds): isoformat cost
    more than the row's INSERT, and comparing a time's fields cost less than the epoch
    arithmetic a cache keyed by the second needed."""
    texts: list[str] = []
    append = texts.append
    last: tuple[int, ...] = ()
    text = ""
    for at in times:
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        second = (at.second, at.minute, at.hour, at.day, at.month, at.year)
        if second != last:
            last = second
            text = at.replace(microsecond=0, tzinfo=None).isoformat(" ")
        append("%s.%06d" % (text, at.microsecond))  # noqa: UP031 (cheaper than an f-string's spec)
    return texts


# SQLite: rows alike but for their time (a client's token grants) in one statement whatever
# their number (one text, prepared once): their times one JSON array of `UTCDateTime`'s
# texts, the other twelve values bound once. A VALUES row per time, bound one by one, cost
# 9% more per event; SQLite formatting integer times itself, 8% more (bench/README.md
# "Stop 30").
_GROUPED_SQLITE = (
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"SELECT value, {', '.join(['?'] * (len(_COLUMNS) - 1))} FROM json_each(?)"
)


@cache
def _sqlite_has_json_each() -> bool:
    """Whether this process's SQLite has the JSON functions (built in since 3.38, and in
    most builds before): without them rows alike go as any other rows."""
    import sqlite3

    try:
        with closing(sqlite3.connect(":memory:")) as probe:
            probe.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.Error:
        return False
    return True


def _times_json(times: Sequence[datetime]) -> str:
    """The times as a JSON array of their SQLite texts (`_sqlite_time`)."""
    return _encode_details(_sqlite_times(times))


# PostgreSQL: rows alike but for their time in one statement of one text whatever their
# number (prepared once), the times as one array: executemany's pipeline ran the executor
# once per row (client_credentials with the audit log on cost 1.3x the CPU of authbridge
# and PostgreSQL together; bench/README.md "Stop 29").
_GROUPED_POSTGRES = (
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"SELECT t, {', '.join(['%s'] * (len(_COLUMNS) - 2))}, %s::json "
    "FROM unnest(%s::timestamptz[]) AS t"
)


def insert_records(session: Session, records: Sequence[AuditRecord]) -> None:
    """Append `records` inside the caller's transaction (one INSERT of many rows): for a
    write whose trail must commit or roll back with it (SCIM's)."""
    if records:
        connection = session.connection()
        for sql, parameters in _statements(connection.dialect, records):
            connection.exec_driver_sql(sql, parameters)


# Rows alike but for their time: a record and the times of its copies (`AuditStore.append`).
Alike = tuple[AuditRecord, Sequence[datetime]]
# One statement to run and its driver-level parameters (a sequence of rows: executemany).
_Statement = tuple[str, Any]


def _statements(
    dialect: Dialect, records: Sequence[AuditRecord], alike: Sequence[Alike] = ()
) -> list[_Statement]:
    """The statements that insert the rows, in as few as each driver runs best, built
    before any connection or lock is taken: the SQLite writer lock (and on PostgreSQL the
    transaction) is held only while they run. psycopg's executemany sends the rows in one
    pipeline of one prepared statement, and multi-row statements of every batch size cost
    the worker more (client_credentials 8-10% more CPU per grant on PostgreSQL): it keeps
    executemany (bench/README.md "Stop 28")."""
    if dialect.name == "sqlite":
        return _sqlite_statements(records, alike, dialect.paramstyle)
    statements: list[_Statement] = []
    rows = _parameters(records, False)
    for record, times in alike:
        tail = _parameters([record], False)[0][1:]
        if len(times) == 1:
            rows.append((_utc(times[0]), *tail))
        else:
            statements.append((_GROUPED_POSTGRES, (*tail, [_utc(at) for at in times])))
    if rows:
        statements.append((_statement(dialect.paramstyle), rows))
    return statements


def _sqlite_statements(
    records: Sequence[AuditRecord], alike: Sequence[Alike], style: str
) -> list[_Statement]:
    """SQLite: sqlite3 runs an executemany row by row and lets go of the GIL around each,
    so rows go in multi-row INSERTs of up to `MAX_ROWS_PER_INSERT` rows; rows alike but
    for their time (a client's token grants) go in one statement per group, their times
    one JSON array (`_GROUPED_SQLITE`)."""
    statements: list[_Statement] = []
    single = _parameters(records, True)
    grouped = _sqlite_has_json_each()
    for record, times in alike:
        rest = _parameters([record], True)[0][1:]
        if grouped and len(times) > 1:
            statements.append((_GROUPED_SQLITE, (*rest, _times_json(times))))
        else:
            single.extend((at, *rest) for at in _sqlite_times(times))
    for start in range(0, len(single), MAX_ROWS_PER_INSERT):
        chunk = single[start : start + MAX_ROWS_PER_INSERT]
        values = tuple(value for row in chunk for value in row)
        statements.append((_statement(style, len(chunk)), values))
    return statements


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        id=int(row.id),
        at=row.at,
        type=row.type,
        outcome=row.outcome,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        address=row.address,
        user_agent=row.user_agent,
        request_id=row.request_id,
        target_type=row.target_type,
        target_id=row.target_id,
        target_name=row.target_name,
        details=row.details or {},
    )


class AuditStore:
    """The audit_events table. `retention`: how long an event is kept (audit.retentionDays)."""

    def __init__(self, db: Database, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._db = db
        self.retention = retention
        # On SQLite, a batch queues with the token endpoint's writers (storage/sqlite_writer.py).
        self._writer = WriterLock(db)

    def append(self, records: Sequence[AuditRecord], alike: Sequence[Alike] = ()) -> None:
        """Store `records`, and for each (record, times) of `alike` one copy of the record
        per time, in one transaction of few INSERTs."""
        if not records and not alike:
            return
        statements = _statements(self._db.engine.dialect, records, alike)
        # A Core transaction, not an ORM session: the batch is few statements, and a
        # session's set-up and commit bookkeeping cost the writer thread more than its
        # INSERT of a small batch (bench/bench_token.py counts the writer's instructions).
        with self._writer.held(), self._db.engine.begin() as connection:
            for sql, parameters in statements:
                connection.exec_driver_sql(sql, parameters)

    def query(
        self,
        where: AuditFilter,
        *,
        limit: int,
        after: tuple[datetime, int] | None = None,
    ) -> list[AuditRecord]:
        """At most `limit` events matching `where`, newest first (at, id descending),
        strictly after the position `after` (the last row of the previous page)."""
        c = _events.c
        conditions = where.conditions()
        if after is not None:
            at, last = after
            conditions.append(or_(c.at < at, and_(c.at == at, c.id < last)))
        statement = (
            select(_events).where(*conditions).order_by(c.at.desc(), c.id.desc()).limit(limit)
        )
        with self._db.session() as session:
            return [_record(row) for row in session.execute(statement)]

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete at most `batch` events older than the retention at `now`."""
        return delete_batch(self._db, _events, _events.c.at < now - self.retention, batch)
