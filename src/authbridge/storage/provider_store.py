"""Persistence of the OpenID Provider's grants, in short transactions on SQLAlchemy Core.

Rows go in and out as the typed records below (`ClientRow`, `CodeRow`, `RefreshRow`,
`DeviceRow`, `Subject`, `RobotTokenRow`), so `authbridge.provider` holds no SQL. Storage owns
expiry: `garbage_collect(now)` removes what can no longer be used, in bounded batches.

The module is over 400 lines because it is the whole persistence of one aggregate (the
provider's grants) and its hot path (refresh rotation with the SQLite writer lock), which
read better together than spread over files.

The hot path (refresh rotation) is one transaction: mark the presented token used with a
conditional UPDATE (so two racing requests cannot both win), read the user, insert the
successor. Replays are detected by that UPDATE matching no row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from authbridge.clock import utcnow
from authbridge.storage.bindings import Grants, grant_rows_sql, grants_of_rows
from authbridge.storage.database import Database
from authbridge.storage.directory_watch import DirectoryWatch, GenerationCache
from authbridge.storage.errors import Conflict
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_batches import BatchedStatement
from authbridge.storage.loop_io import offloadable, offloadable_methods
from authbridge.storage.models import User, UTCDateTime
from authbridge.storage.provider_models import (
    OAuthClient,
    OAuthCode,
    OAuthDeviceCode,
    OAuthRefreshToken,
    OAuthRevokedToken,
    OAuthRobotToken,
)
from authbridge.storage.revocation_feed import (
    SUBJECT,
    FeedEntry,
    append,
    revoked_token,
    subject_revoked,
)
from authbridge.storage.sqlite_writer import WriterLock

__all__ = [
    "ClientRow",
    "CodeRow",
    "DeviceRow",
    "ProviderStore",
    "RefreshRow",
    "RobotTokenRow",
    "Rotation",
    "Subject",
]

_codes: Table = OAuthCode.__table__  # type: ignore[assignment]
_refresh: Table = OAuthRefreshToken.__table__  # type: ignore[assignment]
_devices: Table = OAuthDeviceCode.__table__  # type: ignore[assignment]
_revoked: Table = OAuthRevokedToken.__table__  # type: ignore[assignment]
_clients: Table = OAuthClient.__table__  # type: ignore[assignment]
_robots: Table = OAuthRobotToken.__table__  # type: ignore[assignment]
_users: Table = User.__table__  # type: ignore[assignment]

# The hot path is written as constant SQL: building SQLAlchemy expressions per call (and
# their cache keys) cost more than the statements themselves. Portable SQL only (SQLite
# and PostgreSQL), booleans and times bound with their column types.
_TYPES: dict[str, TypeEngine[Any]] = {
    "email_verified": Boolean(),
    "active": Boolean(),
    "used": Boolean(),
    "revoked": Boolean(),
    "family_expires_at": UTCDateTime(),
    "idle_expires_at": UTCDateTime(),
}


_FLAGS: dict[str, TypeEngine[Any]] = {"yes": Boolean(), "no": Boolean()}
_YES_NO = {"yes": True, "no": False}
# A refresh-token row as a grant reads it (`_refresh_row`).
_REFRESH_COLUMNS = (
    "family_id",
    "client_id",
    "user_id",
    "scope",
    "auth_time",
    "amr",
    "acr",
    "family_expires_at",
    "idle_expires_at",
)

Q_FIND_REFRESH = HotStatement(
    "SELECT r.family_id, r.client_id, r.user_id, r.scope, r.auth_time, r.amr, r.acr,"
    " r.family_expires_at, r.idle_expires_at, r.used, r.revoked, u.active"
    " FROM oauth_refresh_tokens r"
    " JOIN users u ON u.id = r.user_id WHERE r.token_hash = :h",
    columns=(
        *_REFRESH_COLUMNS,
        "used",
        "revoked",
        "active",
    ),
    types=_TYPES,
)
# The user's own row, then the rows of their roles (`grant_rows_sql`): a `Subject` in one
# statement. The flags are numbers so that both dialects' UNION takes them in one column.
_USER_ROW_SQL = (
    "SELECT 'u' AS k, u.username AS a, u.email AS b, u.name AS c, u.kind AS d,"
    " CASE WHEN u.email_verified THEN 1 ELSE 0 END AS e,"
    " CASE WHEN u.active THEN 1 ELSE 0 END AS f FROM users u WHERE u.id = {user}"
)
Q_SUBJECT = HotStatement(_USER_ROW_SQL.format(user=":u") + " UNION ALL " + grant_rows_sql(":u"))
# `revoked` too: a rotation that read its token before a revocation committed must lose
# to it, not use the revoked token once it gets the row lock (PostgreSQL re-checks only the
# WHERE clause of a row it waited for).
Q_USE_REFRESH = HotStatement(
    "UPDATE oauth_refresh_tokens SET used = :yes"
    " WHERE token_hash = :h AND used = :no AND revoked = :no",
    binds=_FLAGS,
)
Q_REVOKE_FAMILY = HotStatement(
    "UPDATE oauth_refresh_tokens SET revoked = :yes WHERE family_id = :f", binds=_FLAGS
)
Q_ADD_REFRESH = HotStatement(
    "INSERT INTO oauth_refresh_tokens (token_hash, family_id, client_id, user_id, scope,"
    " auth_time, amr, acr, family_expires_at, idle_expires_at, used, revoked) VALUES"
    " (:token_hash, :family_id, :client_id, :user_id, :scope, :auth_time, :amr, :acr,"
    " :family_expires_at,"
    " :idle_expires_at, :no, :no)",
    binds={**_FLAGS, "family_expires_at": UTCDateTime(), "idle_expires_at": UTCDateTime()},
)


# A refresh token's rotation in one statement, for PostgreSQL (RFC 9700 §4.14.2): use the
# token if it is this client's, unused, unrevoked and unexpired; insert its successor; read
# the user and their roles; one round trip, atomic by itself (no BEGIN, no COMMIT). The
# conditional UPDATE is the arbiter as in the transaction: of two racing uses one matches,
# and PostgreSQL re-checks the WHERE clause of a row it waited for. No row back: the caller
# judges why in the transaction (`rotate_refresh`), which revokes on a replay.
# A successful refresh rotation (PostgreSQL) in one data-modifying statement, for any number
# of tokens: element i of each array is grant i's (`storage/loop_batches.py` puts a turn's
# grants together; off the loop it runs with one). Use the token if it is fresh, insert its
# successor, read the user and their roles. A token given twice in one batch is used once
# (an UPDATE changes a row once), and the other grant finds no row and is judged in full,
# as a replay. Rows begin with the successor's hash, the key that routes them to their
# grant.
_ROTATED_EACH = "old.user_id"
Q_ROTATE = BatchedStatement(
    HotStatement(
        "WITH given AS (SELECT * FROM unnest(CAST(:h AS text[]), CAST(:s AS text[]),"  # noqa: S608
        " CAST(:c AS text[]), CAST(:now AS timestamptz[]), CAST(:idle_until AS timestamptz[]))"
        " AS g(h, s, c, now, idle_until)),"
        " old AS (UPDATE oauth_refresh_tokens r SET used = true FROM given g"
        " WHERE r.token_hash = g.h AND r.used = false AND r.revoked = false AND r.client_id = g.c"
        " AND r.family_expires_at > g.now AND r.idle_expires_at > g.now"
        " AND EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id AND u.active)"
        " RETURNING g.s, g.idle_until, r.family_id, r.client_id, r.user_id, r.scope,"
        " r.auth_time, r.amr, r.acr, r.family_expires_at),"
        " new AS (INSERT INTO oauth_refresh_tokens (token_hash, family_id, client_id, user_id,"
        " scope, auth_time, amr, acr, family_expires_at, idle_expires_at, used, revoked)"
        " SELECT s, family_id, client_id, user_id, scope, auth_time, amr, acr,"
        " family_expires_at, LEAST(idle_until, family_expires_at), false, false FROM old"
        " RETURNING token_hash, idle_expires_at)"
        " SELECT old.s, old.family_id, old.client_id, old.user_id, old.scope, old.auth_time,"
        " old.amr, old.acr, old.family_expires_at, new.idle_expires_at,"
        " x.k, x.a, x.b, x.c, x.d, x.e, x.f"
        " FROM old JOIN new ON new.token_hash = old.s CROSS JOIN LATERAL ("
        + _USER_ROW_SQL.format(user=_ROTATED_EACH)
        + " UNION ALL "
        + grant_rows_sql(_ROTATED_EACH)
        + ") x",
        columns=("successor", *_REFRESH_COLUMNS, "k", "a", "b", "c", "d", "e", "f"),
        types=_TYPES,
    ),
    fields=("h", "s", "c", "now", "idle_until"),
    key="s",
    order="h",
    binds={"now": UTCDateTime(), "idle_until": UTCDateTime()},
)
_SUBJECT_COLUMNS = slice(10, 17)


@dataclass(frozen=True)
class Subject:
    """What a token says about its user, read in the grant's own transaction: the user and
    the rows their roles are computed from (`directory/roles.py` computes them)."""

    id: str
    username: str
    email: str | None
    email_verified: bool
    name: str | None
    kind: str
    active: bool
    grants: Grants = field(default_factory=Grants)

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(team.name for team in self.grants.teams)


def _subject_of_rows(user_id: str, rows: Sequence[Sequence[Any]]) -> Subject | None:
    """A `Subject` from the rows of `Q_SUBJECT` (None when the user is gone)."""
    user = next((row for row in rows if row[0] == "u"), None)
    if user is None:
        return None
    _, username, email, name, kind, verified, active = user
    return Subject(
        id=user_id,
        username=username,
        email=email,
        email_verified=bool(verified),
        name=name,
        kind=kind,
        active=bool(active),
        grants=grants_of_rows(rows),
    )


@dataclass(frozen=True)
class ClientRow:
    """A client registered in the database (`authbridge clients add`, service accounts)."""

    client_id: str
    name: str = ""
    public: bool = False
    secret_hash: str | None = None
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    allowed_connectors: tuple[str, ...] = ()
    access_token_lifetime: int | None = None
    refresh_token_lifetime: int = 30 * 86400
    refresh_token_idle_timeout: int = 7 * 86400
    service_user_id: str | None = None
    # The secret a rotation replaced and until when it is still accepted (None: none).
    previous_secret_hash: str | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime | None = None

    def previous_secret_live(self, now: datetime) -> str | None:
        """The previous secret's digest while it is accepted; storage owns its expiry, and
        a copy cached before the expiry stops accepting it at the expiry, not at a reload."""
        expires = self.previous_secret_expires_at
        if self.previous_secret_hash is None or expires is None or expires <= now:
            return None
        return self.previous_secret_hash


@dataclass(frozen=True)
class RobotTokenRow:
    jti: str
    user_id: str
    username: str
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class CodeRow:
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    auth_time: int
    expires_at: datetime
    first_use: bool
    family_id: str | None
    access_jti: str | None
    access_expires_at: datetime | None
    amr: str | None = None
    acr: str | None = None


@dataclass(frozen=True)
class RefreshRow:
    family_id: str
    client_id: str
    user_id: str
    scope: str
    auth_time: int
    family_expires_at: datetime
    idle_expires_at: datetime
    # How the person signed in (space-separated RFC 8176 values; the acr level).
    amr: str | None = None
    acr: str | None = None


@dataclass(frozen=True)
class Rotation:
    """Outcome of presenting a refresh token: the row if it was fresh, else why not."""

    row: RefreshRow | None
    problem: str | None = None  # "unknown", "reused", "revoked", "expired", "inactive"
    subject: Subject | None = None


@dataclass(frozen=True)
class DeviceRow:
    client_id: str
    user_code: str
    scope: str
    expires_at: datetime
    interval: int
    last_polled_at: datetime | None
    status: str
    user_id: str | None
    auth_time: int | None
    amr: str | None = None
    acr: str | None = None


def _client_from_row(row: Any) -> ClientRow:
    settings: dict[str, Any] = dict(row.settings or {})
    return ClientRow(
        client_id=row.client_id,
        name=row.name,
        public=row.public,
        secret_hash=row.secret_hash,
        redirect_uris=tuple(settings.get("redirect_uris", ())),
        post_logout_redirect_uris=tuple(settings.get("post_logout_redirect_uris", ())),
        grant_types=tuple(settings.get("grant_types", ("authorization_code", "refresh_token"))),
        allowed_connectors=tuple(settings.get("allowed_connectors", ())),
        access_token_lifetime=settings.get("access_token_lifetime"),
        refresh_token_lifetime=int(settings.get("refresh_token_lifetime", 30 * 86400)),
        refresh_token_idle_timeout=int(settings.get("refresh_token_idle_timeout", 7 * 86400)),
        service_user_id=row.service_user_id,
        previous_secret_hash=row.previous_secret_hash,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
    )


def _client_settings(client: ClientRow) -> dict[str, Any]:
    return {
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": list(client.grant_types),
        "allowed_connectors": list(client.allowed_connectors),
        "access_token_lifetime": client.access_token_lifetime,
        "refresh_token_lifetime": client.refresh_token_lifetime,
        "refresh_token_idle_timeout": client.refresh_token_idle_timeout,
    }


def _refresh_row(found: Any) -> RefreshRow:
    """A refresh-token row as the grant sees it (its secret digest and flags left out)."""
    return RefreshRow(
        family_id=found.family_id,
        client_id=found.client_id,
        user_id=found.user_id,
        scope=found.scope,
        auth_time=found.auth_time,
        amr=found.amr,
        acr=found.acr,
        family_expires_at=found.family_expires_at,
        idle_expires_at=found.idle_expires_at,
    )


# On the event loop (storage/loop_io.py) the two hot statements await the loop's own
# connections; every other method runs whole in a grant thread.
@offloadable_methods("subject", "service_subject", "rotate_refresh")
class ProviderStore:
    def __init__(self, db: Database, directory: DirectoryWatch | None = None) -> None:
        self._db = db
        self._directory = directory
        # Service accounts' subjects, kept while the directory does not change
        # (storage/directory_watch.py); without a watch every grant reads its subject.
        self._service_subjects: GenerationCache[str, Subject | None] | None = None
        if directory is not None:
            self._service_subjects = GenerationCache(
                directory, keep=lambda subject: subject is not None and subject.active
            )
        # SQLite has one writer at a time and its busy handler waits by sleeping (1 ms, then
        # longer): queueing this process's writers on a lock instead keeps p99 low.
        self._writer: AbstractContextManager[Any] = (
            threading.Lock() if db.dialect == "sqlite" else nullcontext()
        )
        self._pinned: Connection | None = None
        self._writer_file = WriterLock(db)

    @contextmanager
    def _hot_transaction(self) -> Iterator[Connection]:
        """A transaction for the hot path. On SQLite, writers are serialised by the lock
        anyway, so they share one long-lived connection: no pool checkout per grant
        (measured at about a tenth of a grant's CPU). A connection that failed is dropped
        and replaced. On PostgreSQL, the rotations `Q_ROTATE` did not settle."""
        if self._db.dialect != "sqlite":
            with self._db.engine.begin() as conn:
                yield conn
            return
        with self._writer, self._writer_file.held():
            yield from self._pinned_transaction()

    def _pinned_transaction(self) -> Iterator[Connection]:
        """One transaction on the shared connection (the caller holds both locks)."""
        pinned = self._pinned
        if pinned is None or pinned.closed or pinned.invalidated:
            pinned = self._pinned = self._db.engine.connect()
        try:
            with pinned.begin():
                yield pinned
        except Exception:
            self._pinned = None
            pinned.close()
            raise
        if self._directory is not None:
            # It never goes back to the pool, whose check-in counts directory writes.
            self._directory.settle(pinned.info)

    # Clients ---------------------------------------------------------------------------

    def add_client(self, client: ClientRow) -> None:
        settings = _client_settings(client)
        try:
            with self._db.session() as session:
                session.execute(
                    insert(_clients).values(
                        client_id=client.client_id,
                        name=client.name,
                        public=client.public,
                        secret_hash=client.secret_hash,
                        settings=settings,
                        service_user_id=client.service_user_id,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"client {client.client_id!r} exists already") from exc

    def client(self, client_id: str) -> ClientRow | None:
        with self._db.session() as session:
            row = session.execute(select(_clients).where(_clients.c.client_id == client_id)).first()
        return _client_from_row(row) if row is not None else None

    def clients(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        service_accounts: bool | None = None,
    ) -> list[ClientRow]:
        """Registered clients by id (keyset: those after `after`, at most `limit`);
        `service_accounts` True/False keeps only service accounts' clients or only others."""
        query = select(_clients).order_by(_clients.c.client_id)
        if after is not None:
            query = query.where(_clients.c.client_id > after)
        if service_accounts is True:
            query = query.where(_clients.c.service_user_id.is_not(None))
        elif service_accounts is False:
            query = query.where(_clients.c.service_user_id.is_(None))
        if limit is not None:
            query = query.limit(limit)
        with self._db.session() as session:
            rows = session.execute(query).all()
        return [_client_from_row(row) for row in rows]

    def update_client(
        self, client_id: str, change: Callable[[ClientRow], ClientRow]
    ) -> tuple[ClientRow, ClientRow] | None:
        """Apply `change` to the stored client inside one transaction, the row locked (FOR
        UPDATE), so a precondition `change` checks (If-Match) holds at the write; returns
        (before, after), None when there is no such client. `change` may raise to abort.
        Only the name and settings are written: secrets change by `set_client_secret`."""
        with self._db.session() as session:
            row = session.execute(
                select(_clients).where(_clients.c.client_id == client_id).with_for_update()
            ).first()
            if row is None:
                return None
            before = _client_from_row(row)
            after = change(before)
            session.execute(
                update(_clients)
                .where(_clients.c.client_id == client_id)
                .values(name=after.name, settings=_client_settings(after))
            )
            return before, after

    def remove_client(self, client_id: str) -> bool:
        """Delete the client and every grant it holds."""
        with self._db.session() as session:
            session.execute(
                update(_refresh).where(_refresh.c.client_id == client_id).values(revoked=True)
            )
            session.execute(delete(_codes).where(_codes.c.client_id == client_id))
            session.execute(delete(_devices).where(_devices.c.client_id == client_id))
            result = session.execute(delete(_clients).where(_clients.c.client_id == client_id))
            return bool(getattr(result, "rowcount", 0))

    def set_client_secret(
        self, client_id: str, secret_hash: str, previous_expires_at: datetime | None = None
    ) -> bool:
        """Replace a registered confidential client's secret digest (a rotation); False when
        there is no such client or it is public (a public client has no secret).

        With `previous_expires_at`, the replaced digest stays accepted until then (one
        UPDATE: SQL reads every right-hand side from the row before the update, so the old
        digest moves over atomically); without it, it is refused at once. A secret that was
        itself the previous one is dropped: at most two are ever valid."""
        keep = previous_expires_at is not None
        with self._db.session() as session:
            result = session.execute(
                update(_clients)
                .where(_clients.c.client_id == client_id, _clients.c.public.is_(False))
                .values(
                    secret_hash=secret_hash,
                    previous_secret_hash=_clients.c.secret_hash if keep else None,
                    previous_secret_expires_at=previous_expires_at,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    # Authorization codes ---------------------------------------------------------------

    def add_code(self, code_hash: str, **values: Any) -> None:
        with self._db.session() as session:
            session.execute(insert(_codes).values(code_hash=code_hash, **values))

    def redeem_code(self, code_hash: str, now: datetime) -> CodeRow | None:
        """Mark the code used and return it; `first_use` is False when it was used before.

        A losing redemption (a replay) also marks the code replayed, and reads what the
        winner recorded after that mark: with `record_code_issue` checking the mark after
        recording, one of the two always sees the other (RFC 6749 §4.1.2: the tokens issued
        from a code used twice should be revoked, however close together the uses came).
        """
        with self._db.session() as session:
            won = session.execute(
                update(_codes)
                .where(_codes.c.code_hash == code_hash, _codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            first_use = bool(getattr(won, "rowcount", 0))
            if not first_use:
                session.execute(
                    update(_codes)
                    .where(_codes.c.code_hash == code_hash, _codes.c.replayed_at.is_(None))
                    .values(replayed_at=now)
                )
            row = session.execute(select(_codes).where(_codes.c.code_hash == code_hash)).first()
        if row is None:
            return None
        return CodeRow(
            client_id=row.client_id,
            user_id=row.user_id,
            redirect_uri=row.redirect_uri,
            scope=row.scope,
            nonce=row.nonce,
            code_challenge=row.code_challenge,
            auth_time=row.auth_time,
            expires_at=row.expires_at,
            first_use=first_use,
            amr=row.amr,
            acr=row.acr,
            family_id=row.family_id,
            access_jti=row.access_jti,
            access_expires_at=row.access_expires_at,
        )

    def record_code_issue(
        self, code_hash: str, family_id: str | None, jti: str, access_expires_at: datetime
    ) -> bool:
        """Record what the code's first redemption issued; True if it was replayed meanwhile
        (the caller then revokes what it issued: the replay may have read nothing yet)."""
        with self._db.session() as session:
            session.execute(
                update(_codes)
                .where(_codes.c.code_hash == code_hash)
                .values(family_id=family_id, access_jti=jti, access_expires_at=access_expires_at)
            )
            replayed = session.execute(
                select(_codes.c.replayed_at).where(_codes.c.code_hash == code_hash)
            ).scalar()
        return replayed is not None

    # Refresh tokens --------------------------------------------------------------------

    def add_refresh(self, token_hash: str, row: RefreshRow) -> None:
        with self._db.session() as session:
            session.execute(
                insert(_refresh).values(
                    token_hash=token_hash, used=False, revoked=False, **row.__dict__
                )
            )

    def rotate_refresh(
        self,
        token_hash: str,
        successor_hash: str,
        now: datetime,
        idle: int,
        *,
        client_id: str,
        scope: str | None = None,
    ) -> Rotation:
        """Use a refresh token and insert its successor, in one transaction (RFC 9700 §4.14.2).

        A used token presented again revokes its family: either the legitimate client or an
        attacker holds a copy, and the server cannot tell which. The user and their roles
        are read in the same transaction, so a grant costs one round of short statements
        on Core (no ORM unit of work): this is the provider's hot path. On PostgreSQL a
        rotation that succeeds is one statement (`Q_ROTATE`); the transaction below judges
        the others (and narrowed scopes), so every refusal is decided in one place.
        """
        if scope is None and self._db.dialect != "sqlite":
            rotated = self._rotate_in_one_statement(
                token_hash, successor_hash, now, idle, client_id
            )
            if rotated is not None:
                return rotated
        return self._judge_rotation(token_hash, successor_hash, now, idle, client_id, scope)

    @offloadable
    def _judge_rotation(
        self,
        token_hash: str,
        successor_hash: str,
        now: datetime,
        idle: int,
        client_id: str,
        scope: str | None,
    ) -> Rotation:
        """The rotation in a transaction: every refusal is decided here (and narrowed
        scopes are rotated here)."""
        with self._hot_transaction() as conn:
            found = Q_FIND_REFRESH.first(conn, {"h": token_hash})
            if found is None:
                return Rotation(None, "unknown")
            row = _refresh_row(found)
            if found.revoked:
                return Rotation(row, "revoked")
            if found.client_id != client_id:
                return Rotation(row, "other client")
            if found.used:
                # A replay, whatever else it asks: judged before the scope, so a replay
                # cannot learn that its token was used without revoking the family.
                Q_REVOKE_FAMILY.run(conn, {"f": row.family_id, **_YES_NO})
                return Rotation(row, "reused")
            if scope is not None and not set(scope.split()) <= set(row.scope.split()):
                # Checked before the token is used, so a refused narrowing costs nothing.
                return Rotation(row, "scope")
            # The conditional UPDATE is the arbiter: of two racing uses only one matches.
            if not Q_USE_REFRESH.run(conn, {"h": token_hash, **_YES_NO}):
                Q_REVOKE_FAMILY.run(conn, {"f": row.family_id, **_YES_NO})
                return Rotation(row, "reused")
            expired = now >= row.family_expires_at or now >= row.idle_expires_at
            if expired or not found.active:
                Q_REVOKE_FAMILY.run(conn, {"f": row.family_id, **_YES_NO})
                return Rotation(row, "expired" if expired else "inactive")
            # The successor keeps the grant's scope: a narrowed refresh narrows this token only.
            successor = RefreshRow(
                **{
                    **row.__dict__,
                    "idle_expires_at": min(now + timedelta(seconds=idle), row.family_expires_at),
                }
            )
            Q_ADD_REFRESH.run(conn, {"token_hash": successor_hash, **successor.__dict__, **_YES_NO})
            subject_rows = Q_SUBJECT.rows(conn, {"u": row.user_id})
            return Rotation(successor, None, _subject_of_rows(row.user_id, subject_rows))

    def _rotate_in_one_statement(
        self, token_hash: str, successor_hash: str, now: datetime, idle: int, client_id: str
    ) -> Rotation | None:
        """`Q_ROTATE`: the rotation if the token was fresh, None to judge it in full."""
        params = {
            "h": token_hash,
            "s": successor_hash,
            "c": client_id,
            "now": now,
            "idle_until": now + timedelta(seconds=idle),
        }
        # On the loop with the other grants of its turn, in one statement; else alone.
        rows = self._db.loop_batch_rows(Q_ROTATE, params)
        if rows is None:
            with self._db.autocommit() as conn:
                rows = Q_ROTATE.statement.rows(conn, Q_ROTATE.arrays(conn.dialect, [params]))
        if not rows:
            return None
        successor = _refresh_row(rows[0])
        subject = _subject_of_rows(successor.user_id, [row[_SUBJECT_COLUMNS] for row in rows])
        if subject is None or not subject.active:
            # Disabled between the UPDATE's check and the read (the statement sees one
            # snapshot, so only a concurrent change lands here): the family ends, as in
            # the transaction.
            self.revoke_family(successor.family_id)
            return Rotation(successor, "inactive")
        return Rotation(successor, None, subject)

    def _hot_read(self) -> AbstractContextManager[Connection]:
        """Where one read of the hot path runs: on PostgreSQL an autocommit connection (one
        round trip: no BEGIN, no COMMIT); on SQLite the shared connection, without the
        writers' file lock (WAL readers never wait for a writer: two system calls less)."""
        if self._db.dialect == "sqlite":
            return self._pinned_read()
        return self._db.autocommit()

    @contextmanager
    def _pinned_read(self) -> Iterator[Connection]:
        with self._writer:
            yield from self._pinned_transaction()

    def subject(self, user_id: str) -> Subject | None:
        """The user with the rows of their roles and teams, in one statement."""
        rows = self._db.loop_rows(Q_SUBJECT, {"u": user_id})
        if rows is None:
            with self._hot_read() as conn:
                rows = Q_SUBJECT.rows(conn, {"u": user_id})
        return _subject_of_rows(user_id, rows)

    def service_subject(self, user_id: str) -> Subject | None:
        """A service account's subject for a client_credentials grant (RFC 6749 §4.4): the
        subject cached while no write of the directory has been seen (at most
        `SUBJECT_CACHE_SECONDS` for one made by another process that no message announced)."""
        cache = self._service_subjects
        if cache is None:
            return self.subject(user_id)
        return cache.get(user_id, self.subject)

    def refresh_token(self, token_hash: str) -> tuple[RefreshRow, bool] | None:
        """The row and whether it is still usable (not used, not revoked)."""
        with self._db.session() as session:
            found = session.execute(
                select(_refresh).where(_refresh.c.token_hash == token_hash)
            ).first()
        if found is None:
            return None
        row = _refresh_row(found)
        return row, not (found.used or found.revoked)

    def revoke_family(self, family_id: str) -> int:
        with self._db.session() as session:
            return _revoke_refresh(session, _refresh.c.family_id == family_id)

    def live_families_of_user(
        self, user_id: str, now: datetime, limit: int = 100
    ) -> list[RefreshRow]:
        """The user's live refresh-token families, one row each (the current, unused token
        of a rotation), newest sign-in first: the apps the user has connected."""
        with self._db.session() as session:
            rows = session.execute(
                select(_refresh)
                .where(
                    _refresh.c.user_id == user_id,
                    _refresh.c.used.is_(False),
                    _refresh.c.revoked.is_(False),
                    _refresh.c.family_expires_at > now,
                    _refresh.c.idle_expires_at > now,
                )
                .order_by(_refresh.c.auth_time.desc(), _refresh.c.family_id)
                .limit(limit)
            ).all()
        return [_refresh_row(row) for row in rows]

    def revoke_family_of_user(self, user_id: str, family_id: str) -> int:
        """Revoke one refresh-token family, only if it is `user_id`'s; returns the rows."""
        with self._db.session() as session:
            return _revoke_refresh(
                session, (_refresh.c.family_id == family_id) & (_refresh.c.user_id == user_id)
            )

    def revoke_user_refresh(self, user_id: str) -> int:
        """Revoke every refresh-token family of the user; returns the rows revoked."""
        with self._db.session() as session:
            result = session.execute(
                update(_refresh)
                .where(_refresh.c.user_id == user_id, _refresh.c.revoked.is_(False))
                .values(revoked=True)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def revoke_user(
        self, user_id: str, now: datetime | None = None, subject_until: datetime | None = None
    ) -> int:
        """Revoke what the provider holds for the user, in one transaction: refresh-token
        families, and the access-token ids it tracks per user that are still valid (robot
        tokens, and access tokens issued from an authorization code). Access tokens of
        refresh and client_credentials grants are not tracked per user; they are refused
        by the user-active check at introspection and userinfo, and, with `subject_until`
        (when the longest access token issued before now expires), by the revocation
        feed's subject entry. Every revoked id goes to the feed in the same transaction.
        Returns how many credentials were revoked."""
        now = now or utcnow()
        with self._db.session() as session:
            count = _revoke_refresh(session, _refresh.c.user_id == user_id)
            robots = session.execute(
                select(_robots.c.jti, _robots.c.expires_at).where(
                    _robots.c.user_id == user_id,
                    _robots.c.revoked_at.is_(None),
                    _robots.c.expires_at > now,
                )
            ).all()
            session.execute(
                update(_robots)
                .where(_robots.c.user_id == user_id, _robots.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            codes = session.execute(
                select(_codes.c.access_jti, _codes.c.access_expires_at).where(
                    _codes.c.user_id == user_id,
                    _codes.c.access_jti.is_not(None),
                    _codes.c.access_expires_at > now,
                )
            ).all()
            issued = {jti: expires for jti, expires in [*robots, *codes]}
            if issued:
                known = set(
                    session.scalars(select(_revoked.c.jti).where(_revoked.c.jti.in_(issued)))
                )
                fresh = [{"jti": j, "expires_at": e} for j, e in issued.items() if j not in known]
                if fresh:
                    session.execute(insert(_revoked), fresh)
                count += len(fresh)
                entries = [revoked_token(r["jti"], now, r["expires_at"]) for r in fresh]
            else:
                entries = []
            if subject_until is not None:
                entries.append(FeedEntry(SUBJECT, user_id, now, subject_until))
            append(session, entries)
            return count

    # Access-token revocation -----------------------------------------------------------

    def revoke_jti(self, jti: str, expires_at: datetime) -> None:
        """Record an access token's id as revoked until it expires; idempotent, also when two
        callers revoke the same id at once (a code's redemption and its concurrent replay)."""
        try:
            with self._db.session() as session:
                exists = session.execute(
                    select(_revoked.c.jti).where(_revoked.c.jti == jti)
                ).first()
                if exists is None:
                    session.execute(insert(_revoked).values(jti=jti, expires_at=expires_at))
                    append(session, [revoked_token(jti, utcnow(), expires_at)])
        except IntegrityError:
            pass  # the other caller recorded it

    def subject_revoked(self, user_id: str, issued_at: datetime, now: datetime) -> bool:
        """Whether the user was revoked (deactivated, password changed) after `issued_at`:
        the revocation feed's `sub` entry, which covers the access tokens no table tracks
        per user (refresh and client_credentials grants)."""
        with self._db.session() as session:
            return subject_revoked(session, user_id, issued_at, now)

    def jti_revoked(self, jti: str) -> bool:
        with self._db.session() as session:
            return (
                session.execute(select(_revoked.c.jti).where(_revoked.c.jti == jti)).first()
                is not None
            )

    def garbage_collect(self, now: datetime, batch: int = 1000) -> int:
        """Delete at most `batch` rows that can no longer be used; returns how many.

        Expired authorization and device codes, revoked access-token ids past the expiry
        of their token, and refresh-token families that ended (absolute lifetime over, or
        every token of the family idle past its timeout; a used token is kept while its
        family lives, so that its replay is still detected). A result below `batch` means
        nothing is left; the caller repeats otherwise (short transactions, no long lock).
        """
        removed = 0
        with self._db.session() as session:
            # A rotated-out client secret past its expiry: cleared, not deleted (the client
            # stays); readers already refuse it by its expiry (`previous_secret_live`).
            result = session.execute(
                update(_clients)
                .where(_clients.c.previous_secret_expires_at < now)
                .values(previous_secret_hash=None, previous_secret_expires_at=None)
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
        for table, column in (
            (_codes, _codes.c.code_hash),
            (_devices, _devices.c.device_code_hash),
            (_revoked, _revoked.c.jti),
        ):
            if removed >= batch:
                return removed
            expired = select(column).where(table.c.expires_at < now).limit(batch - removed)
            with self._db.session() as session:
                result = session.execute(delete(table).where(column.in_(expired)))
                removed += int(getattr(result, "rowcount", 0) or 0)
        for families in (
            select(_refresh.c.family_id).where(_refresh.c.family_expires_at < now).distinct(),
            select(_refresh.c.family_id)
            .group_by(_refresh.c.family_id)
            .having(func.max(_refresh.c.idle_expires_at) < now),
        ):
            if removed >= batch:
                return removed
            with self._db.session() as session:
                ended = list(session.scalars(families.limit(batch - removed)))
                if ended:
                    # Checked again by the DELETE itself: a rotation that committed since
                    # the choice renewed its family, whose new token must not go with it.
                    live = select(_refresh.c.family_id).where(
                        _refresh.c.family_expires_at >= now, _refresh.c.idle_expires_at >= now
                    )
                    result = session.execute(
                        delete(_refresh).where(
                            _refresh.c.family_id.in_(ended), _refresh.c.family_id.not_in(live)
                        )
                    )
                    removed += max(len(ended), int(getattr(result, "rowcount", 0) or 0))
        return removed

    # Device codes ----------------------------------------------------------------------

    def add_device(self, device_code_hash: str, **values: Any) -> bool:
        """False when the user code collides with a live one (the caller draws again)."""
        try:
            with self._db.session() as session:
                session.execute(
                    insert(_devices).values(
                        device_code_hash=device_code_hash, status="pending", **values
                    )
                )
        except IntegrityError:
            return False
        return True

    def device_by_user_code(self, user_code: str) -> DeviceRow | None:
        with self._db.session() as session:
            row = session.execute(select(_devices).where(_devices.c.user_code == user_code)).first()
        return _device(row) if row is not None else None

    def decide_device(
        self,
        user_code: str,
        *,
        approve: bool,
        user_id: str,
        auth_time: int,
        now: datetime,
        amr: str | None = None,
        acr: str | None = None,
    ) -> bool:
        with self._db.session() as session:
            result = session.execute(
                update(_devices)
                .where(
                    and_(
                        _devices.c.user_code == user_code,
                        _devices.c.status == "pending",
                        _devices.c.expires_at > now,
                    )
                )
                .values(
                    status="approved" if approve else "denied",
                    user_id=user_id,
                    auth_time=auth_time,
                    amr=amr,
                    acr=acr,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def poll_device(self, device_code_hash: str, now: datetime) -> DeviceRow | None:
        """Record a poll; an approved code is consumed by the poll that sees it (single use)."""
        with self._db.session() as session:
            row = session.execute(
                select(_devices).where(_devices.c.device_code_hash == device_code_hash)
            ).first()
            if row is None:
                return None
            values: dict[str, Any] = {"last_polled_at": now}
            if row.status == "approved":
                won = session.execute(
                    update(_devices)
                    .where(
                        _devices.c.device_code_hash == device_code_hash,
                        _devices.c.status == "approved",
                    )
                    .values(status="consumed", last_polled_at=now)
                )
                if not getattr(won, "rowcount", 0):
                    return _device(row, status="consumed")
                return _device(row)
            session.execute(
                update(_devices)
                .where(_devices.c.device_code_hash == device_code_hash)
                .values(**values)
            )
            return _device(row)

    def slow_down(self, device_code_hash: str, interval: int) -> None:
        with self._db.session() as session:
            session.execute(
                update(_devices)
                .where(_devices.c.device_code_hash == device_code_hash)
                .values(interval=interval)
            )

    # Users -----------------------------------------------------------------------------

    def user(self, user_id: str) -> User | None:
        with self._db.session() as session:
            return session.get(User, user_id)

    # Robot tokens ----------------------------------------------------------------------

    def add_robot_token(
        self, jti: str, user_id: str, description: str, expires_at: datetime
    ) -> None:
        with self._db.session() as session:
            session.execute(
                insert(_robots).values(
                    jti=jti,
                    user_id=user_id,
                    description=description,
                    created_at=utcnow(),
                    expires_at=expires_at,
                )
            )

    def robot_tokens(
        self,
        *,
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
        jti: str | None = None,
    ) -> list[RobotTokenRow]:
        """Robot tokens by (created_at, jti): keyset after `after`, at most `limit`; or
        the one with id `jti`."""
        query = (
            select(_robots, _users.c.username)
            .join(_users, _users.c.id == _robots.c.user_id)
            .order_by(_robots.c.created_at, _robots.c.jti)
        )
        if after is not None:
            query = query.where(
                or_(
                    _robots.c.created_at > after[0],
                    and_(_robots.c.created_at == after[0], _robots.c.jti > after[1]),
                )
            )
        if jti is not None:
            query = query.where(_robots.c.jti == jti)
        if limit is not None:
            query = query.limit(limit)
        with self._db.session() as session:
            rows = session.execute(query).all()
        return [
            RobotTokenRow(
                jti=row.jti,
                user_id=row.user_id,
                username=row.username,
                description=row.description,
                created_at=row.created_at,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
            )
            for row in rows
        ]

    def revoke_robot_token(self, jti: str, now: datetime) -> bool:
        with self._db.session() as session:
            row = session.execute(select(_robots).where(_robots.c.jti == jti)).first()
            if row is None or row.revoked_at is not None:
                return False
            session.execute(update(_robots).where(_robots.c.jti == jti).values(revoked_at=now))
            exists = session.execute(select(_revoked.c.jti).where(_revoked.c.jti == jti)).first()
            if exists is None:
                session.execute(insert(_revoked).values(jti=jti, expires_at=row.expires_at))
                append(session, [revoked_token(jti, now, row.expires_at)])
            return True


def _revoke_refresh(session: Session, which: ColumnElement[bool]) -> int:
    """Revoke the refresh tokens `which` selects, including a successor that a rotation in
    flight is inserting (RFC 9700 §4.14.2: a revoked grant leaves no live token).

    Under READ COMMITTED the first UPDATE does not see such a successor, but it waits for
    the rotation's lock on the token being used, so by the time it returns the rotation has
    committed; the second UPDATE, a new statement, sees and revokes the successor. A
    rotation that starts later finds its token revoked (Q_USE_REFRESH checks `revoked`).
    """
    revoked = 0
    for _ in range(2):
        result = session.execute(
            update(_refresh).where(which, _refresh.c.revoked.is_(False)).values(revoked=True)
        )
        revoked += int(getattr(result, "rowcount", 0) or 0)
    return revoked


def _device(row: Any, status: str | None = None) -> DeviceRow:
    return DeviceRow(
        client_id=row.client_id,
        user_code=row.user_code,
        scope=row.scope,
        expires_at=row.expires_at,
        interval=row.interval,
        last_polled_at=row.last_polled_at,
        status=status or row.status,
        user_id=row.user_id,
        auth_time=row.auth_time,
        amr=row.amr,
        acr=row.acr,
    )
