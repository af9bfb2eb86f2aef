"""Signing keys: the private half stays in this table and never leaves the process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from authbridge.storage.database import Database
from authbridge.storage.loop_io import offloadable_methods
from authbridge.storage.models import SigningKey
from authbridge.storage.provider_models import OAuthRobotToken

__all__ = ["KeyStore"]

# The PostgreSQL advisory lock under which a first key is added ("authkeys" in ASCII, so it
# names its owner in pg_locks; the migrations' lock is "authbrdg").
FIRST_KEY_LOCK = 0x6175_7468_6B65_7973


# Grants on the event loop run these in a grant thread (storage/loop_io.py).
@offloadable_methods()
class KeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[SigningKey]:
        with self._db.session() as session:
            return list(session.scalars(select(SigningKey).order_by(SigningKey.signs_from)))

    def add(self, key: SigningKey) -> None:
        with self._db.session() as session:
            session.add(key)

    def add_first(self, key: SigningKey) -> bool:
        """Add `key` only if no key is stored; True if it was. Replicas starting together
        on an empty database take turns (`Database.exclusive`), so exactly one adds a first
        key and the others find it: two first keys would each sign at once on their own
        replica while the others' snapshots, loaded before it existed, did not publish it."""
        with self._db.exclusive(FIRST_KEY_LOCK) as connection:
            if connection.scalar(select(SigningKey.kid).limit(1)) is not None:
                return False
            with Session(bind=connection) as session:
                session.add(key)
                session.flush()
            return True

    def retire(self, kid: str, *, retired_at: datetime, published_until: datetime) -> None:
        with self._db.session() as session:
            session.execute(
                update(SigningKey)
                .where(SigningKey.kid == kid, SigningKey.retired_at.is_(None))
                .values(retired_at=retired_at, published_until=published_until)
            )

    def set_private_pem(self, kid: str, private_pem: str) -> None:
        with self._db.session() as session:
            session.execute(
                update(SigningKey).where(SigningKey.kid == kid).values(private_pem=private_pem)
            )

    def extend_signed_until(self, kid: str, until: datetime) -> None:
        """Raise the key's bound on the expiry of tokens it signed (never lowers it)."""
        with self._db.session() as session:
            session.execute(
                update(SigningKey)
                .where(
                    SigningKey.kid == kid,
                    (SigningKey.signed_until.is_(None)) | (SigningKey.signed_until < until),
                )
                .values(signed_until=until)
            )

    def delete(self, kid: str) -> None:
        with self._db.session() as session:
            session.execute(delete(SigningKey).where(SigningKey.kid == kid))

    def long_lived_outstanding(self, *, issued_before: datetime, now: datetime) -> bool:
        """Whether an unrevoked robot token issued before `issued_before` is still valid:
        the key that was signing then must stay published until it expires."""
        with self._db.session() as session:
            found = session.scalar(
                select(OAuthRobotToken.jti)
                .where(
                    OAuthRobotToken.created_at < issued_before,
                    OAuthRobotToken.expires_at > now,
                    OAuthRobotToken.revoked_at.is_(None),
                )
                .limit(1)
            )
            return found is not None
