"""The revocation feed: what has been revoked since a cursor, for verifiers that keep no
connection to the database (the middleware of the platform's other services).

An entry is a revoked access-token id (`jti`) or a subject (`sub`: a user, service account
or robot deactivated; every token of it issued before `revoked_at` is refused). It lives
only as long as the longest access token it could cover (`expires_at`), so storage owns
its garbage collection like any other expiring row.

The cursor is the entry's sequence number. Sequence numbers are taken in commit order: an
append takes a transaction-level lock first (PostgreSQL `pg_advisory_xact_lock`; SQLite
serializes writers already), so a reader that saw entry n never later finds an entry below
n committed (the gap a plain sequence leaves when two transactions commit out of order).
Revocations are rare; serializing them costs nothing measurable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Index, Integer, String, Table, func, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.models import Base, UTCDateTime

__all__ = [
    "FeedEntry",
    "FeedPage",
    "RevocationFeedRow",
    "RevocationFeedStore",
    "append",
    "revoked_token",
    "subject_revoked",
]

JTI = "jti"
SUBJECT = "sub"
_LOCK = int.from_bytes(
    hashlib.sha256(b"authbridge.revocation_feed").digest()[:8], "big", signed=True
)


class RevocationFeedRow(Base):
    __tablename__ = "revocation_feed"

    # BIGINT on PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_revocation_feed_expires_at", "expires_at"),
        # The provider's token checks look up a subject's entries (`subject_revoked`).
        Index("ix_revocation_feed_value", "value"),
    )


_feed: Table = RevocationFeedRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class FeedEntry:
    """One revocation: `kind` is "jti" (one token) or "sub" (a subject's tokens issued
    before `revoked_at`); the entry matters until `expires_at`."""

    kind: str
    value: str
    revoked_at: datetime
    expires_at: datetime


# A verifier accepts a token up to its clock tolerance (the middleware allows at most 600 s)
# past its `exp`: a token's entry stays that much longer.
TOLERANCE = timedelta(seconds=600)


def revoked_token(jti: str, revoked_at: datetime, token_expires_at: datetime) -> FeedEntry:
    """The entry of one revoked access token, kept until no verifier accepts it anyway."""
    return FeedEntry(JTI, jti, revoked_at, token_expires_at + TOLERANCE)


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    # The cursor to ask with next time: the last entry's sequence number (or the head).
    cursor: int
    # More entries follow this page.
    more: bool
    # The cursor given was ahead of the feed (a restored database): start again from these.
    reset: bool


def append(session: Session, entries: Sequence[FeedEntry]) -> None:
    """Add `entries` to the feed inside the caller's transaction (the revocation's own, so
    a revocation and its feed entry commit together or not at all)."""
    if not entries:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Held until this transaction ends: sequence numbers are committed in order.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    session.execute(
        insert(_feed),
        [
            {
                "kind": e.kind,
                "value": e.value[:255],
                "revoked_at": e.revoked_at,
                "expires_at": e.expires_at,
            }
            for e in entries
        ],
    )


def subject_revoked(session: Session, subject: str, issued_at: datetime, now: datetime) -> bool:
    """Whether a `sub` entry in force refuses a token of `subject` issued at `issued_at`
    (whole seconds, as `iat`): the feed's rule, so authbridge refuses what followers do."""
    found = session.execute(
        select(_feed.c.seq)
        .where(
            _feed.c.kind == SUBJECT,
            _feed.c.value == subject[:255],
            _feed.c.revoked_at > issued_at,
            _feed.c.expires_at > now,
        )
        .limit(1)
    ).first()
    return found is not None


class RevocationFeedStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, entries: Sequence[FeedEntry]) -> None:
        """Append entries in a transaction of their own."""
        with self._db.session() as session:
            append(session, entries)

    def since(self, cursor: int | None, now: datetime, limit: int = 1000) -> FeedPage:
        """Entries after `cursor` (all live entries for None) still in force at `now`, in
        commit order, at most `limit`."""
        with self._db.session() as session:
            head = int(session.scalar(select(func.coalesce(func.max(_feed.c.seq), 0))) or 0)
            reset = cursor is not None and cursor > head
            after = 0 if cursor is None or reset else cursor
            rows = session.execute(
                select(
                    _feed.c.seq, _feed.c.kind, _feed.c.value, _feed.c.revoked_at, _feed.c.expires_at
                )
                .where(_feed.c.seq > after, _feed.c.seq <= head, _feed.c.expires_at > now)
                .order_by(_feed.c.seq)
                .limit(limit + 1)
            ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        entries = [FeedEntry(r.kind, r.value, r.revoked_at, r.expires_at) for r in rows]
        last = rows[-1].seq if rows else after
        # Rows are read up to the head read first (entries commit in sequence order, so
        # every entry up to it is visible): with nothing more, the head is where to go on.
        return FeedPage(entries, last if more else max(last, head), more, reset)

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete at most `batch` entries whose tokens have all expired by `now`.

        The newest entry stays, expired or not: it holds the head. Deleted, the head would
        move back: on SQLite the next entry would take a sequence number a follower already
        holds as its cursor (SQLite reuses the largest rowid of an INTEGER PRIMARY KEY), so
        "since n" would never deliver it, a revocation lost; on PostgreSQL every follower
        would be told to `reset` (its cursor ahead of the head).
        """
        newest = select(func.max(_feed.c.seq)).scalar_subquery()
        expired = (_feed.c.expires_at < now) & (_feed.c.seq < newest)
        return delete_batch(self._db, _feed, expired, batch)
