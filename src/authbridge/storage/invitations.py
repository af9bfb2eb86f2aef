"""Invitations: created, listed (keyset pages), re-keyed, ended once.

Every change of status is one conditional UPDATE (`WHERE status = 'pending' ...`), so of
two requests using one link, or a revoke racing an accept, exactly one wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, or_, select, update

from authbridge.clock import utcnow
from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.invitation_models import Invitation

__all__ = ["PENDING", "STATUSES", "InvitationStore", "email_key"]

_table: Table = Invitation.__table__  # type: ignore[assignment]
PENDING = "pending"
ACCEPTED = "accepted"
REVOKED = "revoked"
EXPIRED = "expired"  # a pending one past its expiry (never stored as such)
STATUSES = (PENDING, ACCEPTED, EXPIRED, REVOKED)
# Ended and lapsed invitations stay listed this long (the admin sees what became of them),
# then housekeeping deletes them; the audit log keeps the history.
RETENTION = timedelta(days=30)


def email_key(email: str) -> str:
    return email.strip().casefold()


class InvitationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        email: str,
        token_hash: str,
        teams: Sequence[str],
        bindings: Sequence[dict[str, Any]],
        expires_at: datetime,
        invited_by: str | None,
        emailed: bool,
    ) -> Invitation:
        row = Invitation(
            id=str(uuid.uuid4()),
            email=email,
            email_key=email_key(email),
            token_hash=token_hash,
            teams=list(teams),
            bindings=list(bindings),
            status=PENDING,
            emailed=emailed,
            invited_by=invited_by,
            created_at=utcnow(),
            expires_at=expires_at,
        )
        with self._db.session() as session:
            session.add(row)
            session.flush()
            session.expunge(row)
        return row

    def get(self, invitation_id: str) -> Invitation | None:
        with self._db.session() as session:
            row = session.get(Invitation, invitation_id)
            if row is not None:
                session.expunge(row)
            return row

    def by_token(self, token_hash: str) -> Invitation | None:
        with self._db.session() as session:
            row = session.scalar(select(Invitation).where(Invitation.token_hash == token_hash))
            if row is not None:
                session.expunge(row)
            return row

    def page(
        self,
        limit: int,
        after: tuple[str, str] | None,
        *,
        status: str | None = None,
        now: datetime | None = None,
    ) -> list[Invitation]:
        """Newest first, keyed by (created_at, id): `limit + 1` rows so the caller knows
        whether another page follows. `status`: one of STATUSES, `expired` being a pending
        one past its expiry at `now` (and `pending` one before it)."""
        stmt = select(Invitation).order_by(Invitation.created_at.desc(), Invitation.id.desc())
        if status is not None:
            moment = now or utcnow()
            if status == EXPIRED:
                stmt = stmt.where(Invitation.status == PENDING, Invitation.expires_at <= moment)
            elif status == PENDING:
                stmt = stmt.where(Invitation.status == PENDING, Invitation.expires_at > moment)
            else:
                stmt = stmt.where(Invitation.status == status)
        if after is not None:
            at = datetime.fromisoformat(after[0])
            stmt = stmt.where(
                or_(
                    Invitation.created_at < at,
                    and_(Invitation.created_at == at, Invitation.id < after[1]),
                )
            )
        with self._db.session() as session:
            rows = list(session.scalars(stmt.limit(limit + 1)))
            session.expunge_all()
            return rows

    def pending_for(self, email: str, now: datetime) -> list[Invitation]:
        """Live invitations of this address (case-insensitively), oldest first."""
        stmt = (
            select(Invitation)
            .where(
                Invitation.email_key == email_key(email),
                Invitation.status == PENDING,
                Invitation.expires_at > now,
            )
            .order_by(Invitation.created_at)
        )
        with self._db.session() as session:
            rows = list(session.scalars(stmt))
            session.expunge_all()
            return rows

    def rekey(
        self, invitation_id: str, token_hash: str, expires_at: datetime, emailed: bool
    ) -> bool:
        """A new link for a pending invitation (the old token's digest is overwritten, so
        the old link stops working in the same statement); False if it is not pending."""
        return self._transition(
            and_(_table.c.id == invitation_id),
            token_hash=token_hash,
            expires_at=expires_at,
            emailed=emailed,
        )

    def revoke(self, invitation_id: str, now: datetime) -> bool:
        return self._transition(_table.c.id == invitation_id, status=REVOKED, ended_at=now)

    def claim(self, token_hash: str, now: datetime) -> Invitation | None:
        """Use a link once: the invitation if this call moved it from pending (unexpired) to
        accepted, else None (unknown, used, revoked, expired, or another caller won)."""
        won = self._transition(
            and_(_table.c.token_hash == token_hash, _table.c.expires_at > now),
            status=ACCEPTED,
            ended_at=now,
        )
        return self.by_token(token_hash) if won else None

    def claim_id(self, invitation_id: str, now: datetime) -> bool:
        """Accept a pending invitation by id (an IdP login that proved its email)."""
        return self._transition(
            and_(_table.c.id == invitation_id, _table.c.expires_at > now),
            status=ACCEPTED,
            ended_at=now,
        )

    def accepted_by(self, invitation_id: str, user_id: str) -> None:
        with self._db.session() as session:
            session.execute(
                update(_table).where(_table.c.id == invitation_id).values(accepted_by=user_id)
            )

    def release(self, invitation_id: str) -> None:
        """Undo a claim whose account could not be made (the link works again)."""
        with self._db.session() as session:
            session.execute(
                update(_table)
                .where(
                    _table.c.id == invitation_id,
                    _table.c.status == ACCEPTED,
                    _table.c.accepted_by.is_(None),
                )
                .values(status=PENDING, ended_at=None)
            )

    def _transition(self, where: Any, **values: Any) -> bool:
        with self._db.session() as session:
            result = session.execute(
                update(_table).where(where, _table.c.status == PENDING).values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Invitations that lapsed or ended more than RETENTION ago."""
        cutoff = now - RETENTION
        expired = or_(_table.c.expires_at <= cutoff, _table.c.ended_at <= cutoff)
        return delete_batch(self._db, _table, expired, batch)
