"""Passkeys at rest: a user's WebAuthn credentials (WebAuthn Level 2 §6.1 credential
records). The signature counter only moves forward, in one conditional UPDATE (§6.1.1):
of two sign-ins racing with the same counter value, exactly one stores it. Nothing here
expires: a passkey lives until its owner or an administrator removes it; the ceremonies'
challenges are short-lived key-value records (directory/passkeys.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from authbridge.clock import utcnow
from authbridge.storage.database import Database
from authbridge.storage.passkey_models import Passkey

__all__ = ["PasskeyStore", "StoredPasskey"]

_passkeys: Table = Passkey.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class StoredPasskey:
    id: int
    user_id: str
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    backup_eligible: bool
    name: str
    created_at: datetime
    last_used_at: datetime | None


def _stored(row: object) -> StoredPasskey:
    transports = str(getattr(row, "transports", "") or "")
    return StoredPasskey(
        id=int(row.id),  # type: ignore[attr-defined]
        user_id=str(row.user_id),  # type: ignore[attr-defined]
        credential_id=bytes(row.credential_id),  # type: ignore[attr-defined]
        public_key=bytes(row.public_key),  # type: ignore[attr-defined]
        sign_count=int(row.sign_count),  # type: ignore[attr-defined]
        transports=tuple(t for t in transports.split(",") if t),
        backup_eligible=bool(row.backup_eligible),  # type: ignore[attr-defined]
        name=str(row.name),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        last_used_at=row.last_used_at,  # type: ignore[attr-defined]
    )


class PasskeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        user_id: str,
        *,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        transports: tuple[str, ...],
        backup_eligible: bool,
        name: str,
        now: datetime | None = None,
    ) -> StoredPasskey | None:
        """Store a new credential; None when its id is registered already (to anyone)."""
        row = {
            "user_id": user_id,
            "credential_id": credential_id,
            "public_key": public_key,
            "sign_count": sign_count,
            "transports": ",".join(transports),
            "backup_eligible": backup_eligible,
            "name": name,
            "created_at": now or utcnow(),
            "last_used_at": None,
        }
        try:
            with self._db.session() as session:
                session.execute(_passkeys.insert().values(**row))
        except IntegrityError:
            return None
        return self.by_credential_id(credential_id)

    def list(self, user_id: str) -> list[StoredPasskey]:
        with self._db.session() as session:
            rows = session.execute(
                select(_passkeys).where(_passkeys.c.user_id == user_id).order_by(_passkeys.c.id)
            ).all()
        return [_stored(row) for row in rows]

    def count(self, user_id: str) -> int:
        with self._db.session() as session:
            found = session.scalar(
                select(func.count()).select_from(_passkeys).where(_passkeys.c.user_id == user_id)
            )
        return int(found or 0)

    def by_credential_id(self, credential_id: bytes) -> StoredPasskey | None:
        with self._db.session() as session:
            row = session.execute(
                select(_passkeys).where(_passkeys.c.credential_id == credential_id)
            ).first()
        return None if row is None else _stored(row)

    def record_use(
        self, passkey_id: int, seen: int, new_count: int, *, now: datetime | None = None
    ) -> bool:
        """Store the counter of a verified assertion, if the stored one is still `seen`
        (WebAuthn §7.2 step 21); True for exactly one of two racing sign-ins."""
        with self._db.session() as session:
            result = session.execute(
                update(_passkeys)
                .where(_passkeys.c.id == passkey_id, _passkeys.c.sign_count == seen)
                .values(sign_count=new_count, last_used_at=now or utcnow())
            )
            return bool(getattr(result, "rowcount", 0))

    def remove(self, user_id: str, passkey_id: int) -> StoredPasskey | None:
        """Delete one of the user's credentials; the removed one, or None."""
        with self._db.session() as session:
            row = session.execute(
                select(_passkeys).where(
                    _passkeys.c.id == passkey_id, _passkeys.c.user_id == user_id
                )
            ).first()
            if row is None:
                return None
            session.execute(delete(_passkeys).where(_passkeys.c.id == passkey_id))
        return _stored(row)

    def remove_all(self, user_id: str) -> int:
        """Delete every credential of the user (an administrator's reset); how many."""
        with self._db.session() as session:
            result = session.execute(delete(_passkeys).where(_passkeys.c.user_id == user_id))
            return int(getattr(result, "rowcount", 0) or 0)
