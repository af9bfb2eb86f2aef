"""SCIM provisioning credentials per source (RFC 7644 §2: the service provider chooses how
its clients authenticate): HTTP Basic (Okta) or a bearer token (Microsoft Entra ID).

Only a SHA-256 digest of each secret is stored. The secrets are generated (256 bits from
`secrets`), never chosen by people, so a digest cannot be reversed by guessing; argon2
exists to slow down guesses of low-entropy passwords and would only add its cost to every
SCIM request, once per active credential.

The environment's credential (`SCIM_AUTH_CODE_<SOURCE>`) has a row too, id `env`, once it
has been used or retired: its `digest` names the value it refers to, so retiring it
retires that value only (a new value in the environment is a new credential), and its
`created_at` is unknown (null).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH
from authbridge.storage.models import Base, UTCDateTime

__all__ = ["ENV_ID", "KEEP_RETIRED", "ScimCredentialRow", "ScimCredentialStore"]

ENV_ID = "env"
# A retired (or expired) credential stays listed this long, then housekeeping deletes it;
# the environment's marker is kept: it is what keeps that value retired.
KEEP_RETIRED = timedelta(days=30)


class ScimCredentialRow(Base):
    __tablename__ = "scim_credentials"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # basic | bearer
    username: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(64))  # hex SHA-256 of the secret
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_scim_credentials_retired_at", "retired_at"),)

    def active(self, now: datetime) -> bool:
        """Not retired and not expired at `now` (a retirement may lie ahead: its grace)."""
        return (self.retired_at is None or self.retired_at > now) and (
            self.expires_at is None or self.expires_at > now
        )


class ScimCredentialStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self, source: str | None = None) -> list[ScimCredentialRow]:
        """Every row (retired ones too), oldest first; of one source when given."""
        query = select(ScimCredentialRow)
        if source is not None:
            query = query.where(ScimCredentialRow.source == source)
        query = query.order_by(
            ScimCredentialRow.source, ScimCredentialRow.created_at, ScimCredentialRow.id
        )
        with self._db.session() as session:
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows

    def get(self, source: str, credential_id: str) -> ScimCredentialRow | None:
        with self._db.session() as session:
            row = session.get(ScimCredentialRow, (source, credential_id))
            if row is not None:
                session.expunge(row)
            return row

    def add(self, row: ScimCredentialRow) -> None:
        with self._db.session() as session:
            session.add(row)

    def retire(
        self, source: str, credential_id: str, at: datetime, now: datetime
    ) -> ScimCredentialRow | None:
        """Retire at `at` (now, or later: a grace); a retirement already in force stays,
        one still ahead may be brought forward but never pushed back. The row after, or
        None when there is no such credential."""
        with self._db.session() as session:
            session.execute(
                update(ScimCredentialRow)
                .where(
                    ScimCredentialRow.source == source,
                    ScimCredentialRow.id == credential_id,
                    or_(ScimCredentialRow.retired_at.is_(None), ScimCredentialRow.retired_at > at),
                    or_(ScimCredentialRow.retired_at.is_(None), ScimCredentialRow.retired_at > now),
                )
                .values(retired_at=at)
            )
            row = session.get(ScimCredentialRow, (source, credential_id))
            if row is not None:
                session.expunge(row)
            return row

    def mark_env(self, source: str, kind: str, digest: str, retired_at: datetime | None) -> None:
        """The environment's credential of `source` is the value of digest `digest`: its
        marker row says so (a new value clears an older value's retirement), retired at
        `retired_at` when given."""
        with self._db.session() as session:
            row = session.get(ScimCredentialRow, (source, ENV_ID), with_for_update=True)
            if row is None:
                session.add(
                    ScimCredentialRow(
                        source=source, id=ENV_ID, kind=kind, digest=digest, retired_at=retired_at
                    )
                )
                return
            if row.digest != digest:
                row.digest, row.retired_at, row.last_used_at = digest, None, None
            if retired_at is not None and (row.retired_at is None or row.retired_at > retired_at):
                row.retired_at = retired_at

    def touch(self, source: str, credential_id: str, now: datetime, every: timedelta) -> None:
        """Record a use, at most once per `every` (a write per SCIM request would be one
        UPDATE per request on the hottest row)."""
        with self._db.session() as session:
            session.execute(
                update(ScimCredentialRow)
                .where(
                    ScimCredentialRow.source == source,
                    ScimCredentialRow.id == credential_id,
                    or_(
                        ScimCredentialRow.last_used_at.is_(None),
                        ScimCredentialRow.last_used_at <= now - every,
                    ),
                )
                .values(last_used_at=now)
            )

    def touch_env(self, source: str, kind: str, digest: str, now: datetime) -> None:
        """A use of the environment's credential: its marker row is made if missing."""
        with contextlib.suppress(IntegrityError):  # another replica made it first
            self.mark_env(source, kind, digest, None)
        self.touch(source, ENV_ID, now, timedelta(0))

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete credentials retired or expired more than KEEP_RETIRED ago (never the
        environment's marker: it keeps that value retired). The key is two columns, so
        the batch is chosen first and deleted row by row (there are a handful a year)."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        before = now - KEEP_RETIRED
        row = ScimCredentialRow
        with self._db.session() as session:
            keys = session.execute(
                select(row.source, row.id)
                .where(row.id != ENV_ID, or_(row.retired_at < before, row.expires_at < before))
                .limit(batch)
            ).all()
            for source, credential_id in keys:
                session.execute(delete(row).where(row.source == source, row.id == credential_id))
            return len(keys)
