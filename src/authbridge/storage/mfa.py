"""Second factors at rest: a user's TOTP credential and recovery code hashes.

Every single-use rule is one conditional statement, so of two replicas racing exactly one
wins: a credential is stored once (`WHERE confirmed_at IS NULL` on the upsert), a recovery
code is used once (`WHERE used_at IS NULL`). Used TOTP time steps are replay markers in the
counters (`storage/counters.py`), which expire on their own.

Only confirmed credentials are stored here: an enrolment waiting for its first code lives
in the key-value store, bound to one session and lapsing within minutes (directory/totp.py).
Unconfirmed rows that earlier versions wrote here read as absent, and housekeeping deletes
them after `PENDING_ENROLMENT`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.mfa_models import RecoveryCode, TotpCredential
from authbridge.storage.upsert import insert_for

__all__ = ["PENDING_ENROLMENT", "MfaStore", "StoredTotp"]

_totp: Table = TotpCredential.__table__  # type: ignore[assignment]
_codes: Table = RecoveryCode.__table__  # type: ignore[assignment]
# How long an unconfirmed row of an older version is kept before housekeeping drops it.
PENDING_ENROLMENT = timedelta(days=1)


@dataclass(frozen=True)
class StoredTotp:
    user_id: str
    secret: str  # sealed (or plain, without tokens.keyEncryptionKey, like the signing keys)
    created_at: datetime
    confirmed_at: datetime | None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class MfaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def totp(self, user_id: str, *, now: datetime | None = None) -> StoredTotp | None:
        """The user's confirmed credential (an unconfirmed row of an older version reads
        absent: it was never a credential)."""
        with self._db.session() as session:
            row = session.execute(
                select(_totp).where(_totp.c.user_id == user_id, _totp.c.confirmed_at.isnot(None))
            ).first()
        if row is None:
            return None
        return StoredTotp(row.user_id, row.secret, row.created_at, row.confirmed_at)

    def enrol(
        self,
        user_id: str,
        secret: str,
        code_hashes: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> bool:
        """Store a confirmed credential and its recovery codes in one transaction; False
        (nothing stored) when the user has a confirmed credential already: of two
        confirmations racing, one wins, and an existing one is removed first, on purpose."""
        now = now or utcnow()
        with self._db.session() as session:
            stmt = insert_for(session, _totp).values(
                user_id=user_id, secret=secret, created_at=now, confirmed_at=now
            )
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_totp.c.user_id],
                    set_={"secret": secret, "created_at": now, "confirmed_at": now},
                    where=_totp.c.confirmed_at.is_(None),
                )
            )
            stored = session.scalar(select(_totp.c.secret).where(_totp.c.user_id == user_id))
            if stored != secret:
                return False
            self._replace_codes(session, user_id, code_hashes, now)
        return True

    def replace_recovery_codes(
        self, user_id: str, code_hashes: Sequence[str], *, now: datetime | None = None
    ) -> None:
        """A fresh set: every earlier code (used or not) stops working."""
        with self._db.session() as session:
            self._replace_codes(session, user_id, code_hashes, now or utcnow())

    @staticmethod
    def _replace_codes(
        session: Session, user_id: str, hashes: Sequence[str], now: datetime
    ) -> None:
        session.execute(delete(_codes).where(_codes.c.user_id == user_id))
        if hashes:
            session.execute(
                _codes.insert(),
                [{"user_id": user_id, "code_hash": h, "created_at": now} for h in hashes],
            )

    def unused_recovery_codes(self, user_id: str) -> list[tuple[int, str]]:
        """(id, hash) of each code not used yet."""
        with self._db.session() as session:
            rows = session.execute(
                select(_codes.c.id, _codes.c.code_hash)
                .where(_codes.c.user_id == user_id, _codes.c.used_at.is_(None))
                .order_by(_codes.c.id)
            ).all()
        return [(int(row.id), str(row.code_hash)) for row in rows]

    def recovery_codes_left(self, user_id: str) -> int:
        with self._db.session() as session:
            count = session.scalar(
                select(func.count())
                .select_from(_codes)
                .where(_codes.c.user_id == user_id, _codes.c.used_at.is_(None))
            )
        return int(count or 0)

    def use_recovery_code(self, user_id: str, code_id: int, *, now: datetime | None = None) -> bool:
        """Mark a code used; True for exactly one caller."""
        with self._db.session() as session:
            result = session.execute(
                update(_codes)
                .where(
                    _codes.c.id == code_id,
                    _codes.c.user_id == user_id,
                    _codes.c.used_at.is_(None),
                )
                .values(used_at=now or utcnow())
            )
            return bool(getattr(result, "rowcount", 0))

    def remove(self, user_id: str) -> bool:
        """Delete the user's TOTP credential and recovery codes; True if there was either."""
        with self._db.session() as session:
            codes = session.execute(delete(_codes).where(_codes.c.user_id == user_id))
            totp = session.execute(delete(_totp).where(_totp.c.user_id == user_id))
            return bool(getattr(totp, "rowcount", 0) or getattr(codes, "rowcount", 0))

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete up to `batch` unconfirmed rows older than `PENDING_ENROLMENT`."""
        lapsed = _totp.c.confirmed_at.is_(None) & (_totp.c.created_at < now - PENDING_ENROLMENT)
        return delete_batch(self._db, _totp, lapsed, batch)
