"""Server-side browser sessions, looked up by the SHA-256 of the cookie's random id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, delete, insert, select, update

from authbridge.storage.database import Database
from authbridge.storage.expiry import DEFAULT_BATCH, delete_batch
from authbridge.storage.models import BrowserSession, User, column_values

__all__ = ["SessionStore"]

_sessions: Table = BrowserSession.__table__  # type: ignore[assignment]
_users: Table = User.__table__  # type: ignore[assignment]
# Built once: every sign-in runs them, and rebuilding a statement costs as much as running it.
_INSERT_SESSION = insert(_sessions)
_RECORD_LOGIN = (
    update(_users).where(_users.c.id == bindparam("user_id")).values(last_login_at=bindparam("now"))
)
# The user's other sessions beyond the newest `keep`, oldest first out. The new session is
# named so a tie on created_at (two sign-ins in one clock tick) can never evict it.
_others = (_sessions.c.user_id == bindparam("user_id")) & (_sessions.c.id_hash != bindparam("new"))
_EVICT_OLDEST = delete(_sessions).where(
    _others,
    _sessions.c.id_hash.not_in(
        select(_sessions.c.id_hash)
        .where(_others)
        .order_by(_sessions.c.created_at.desc(), _sessions.c.id_hash)
        .limit(bindparam("keep"))
        .scalar_subquery()
    ),
)


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        id_hash: str,
        user_id: str,
        auth_method: str,
        now: datetime,
        expires_at: datetime,
        client_address: str | None = None,
        user_agent: str | None = None,
        max_per_user: int | None = None,
        amr: Sequence[str] = (),
        acr: str | None = None,
    ) -> BrowserSession:
        """Start a session; with `max_per_user`, the user's oldest sessions beyond that many
        (this one included) end in the same transaction, so sign-ins cannot pile rows up.

        `amr` (RFC 8176 values) and `acr` say how the person signed in; `now` is the
        authentication time (OIDC Core §2 `auth_time`)."""
        row = BrowserSession(
            id_hash=id_hash,
            user_id=user_id,
            auth_method=auth_method,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            client_address=client_address,
            user_agent=(user_agent or "")[:512] or None,
            amr=" ".join(amr)[:256] or None,
            acr=(acr or "")[:256] or None,
            authenticated_at=now,
        )
        # Core statements on the hot path of every sign-in: the ORM's unit of work (flush,
        # identity map) measured as a quarter of a sign-in's non-argon2 time.
        with self._db.engine.begin() as connection:
            connection.execute(_INSERT_SESSION, column_values(row))
            # Starting a session is the sign-in: record it in the same transaction.
            connection.execute(_RECORD_LOGIN, {"user_id": user_id, "now": now})
            if max_per_user is not None:
                connection.execute(
                    _EVICT_OLDEST, {"user_id": user_id, "new": id_hash, "keep": max_per_user - 1}
                )
        return row

    def get(self, id_hash: str) -> BrowserSession | None:
        with self._db.session() as session:
            return session.get(BrowserSession, id_hash)

    def touch(self, id_hash: str, now: datetime) -> None:
        with self._db.session() as session:
            session.execute(
                update(BrowserSession)
                .where(BrowserSession.id_hash == id_hash)
                .values(last_seen_at=now)
            )

    def delete(self, id_hash: str) -> None:
        with self._db.session() as session:
            session.execute(delete(BrowserSession).where(BrowserSession.id_hash == id_hash))

    def of_user(self, user_id: str, now: datetime, limit: int = 100) -> list[BrowserSession]:
        """The user's live sessions, most recently seen first (the account page's list;
        `sessions.maxPerUser` bounds how many there are)."""
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(BrowserSession)
                    .where(BrowserSession.user_id == user_id, BrowserSession.expires_at > now)
                    .order_by(BrowserSession.last_seen_at.desc(), BrowserSession.id_hash)
                    .limit(limit)
                )
            )

    def delete_of_user(self, user_id: str, id_hash: str) -> bool:
        """End one session, only if it is `user_id`'s: a user can end their own sessions
        and no one else's by naming an id."""
        with self._db.session() as session:
            result = session.execute(
                delete(BrowserSession).where(
                    BrowserSession.id_hash == id_hash, BrowserSession.user_id == user_id
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def delete_for_user(self, user_id: str) -> int:
        with self._db.session() as session:
            result = session.execute(
                delete(BrowserSession).where(BrowserSession.user_id == user_id)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def garbage_collect(self, now: datetime, batch: int = DEFAULT_BATCH) -> int:
        """Delete up to `batch` sessions past their absolute lifetime."""
        return delete_batch(self._db, _sessions, _sessions.c.expires_at < now, batch)
