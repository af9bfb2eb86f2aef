"""Persistence of the provider's grants, in short transactions written with SQLAlchemy Core.

The hot path (refresh rotation) is one transaction: mark the presented token used with a
conditional UPDATE (so two racing requests cannot both win), read the user, insert the
successor. Replays are detected by that UPDATE matching no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from authbridge.provider.clients import Client
from authbridge.storage.database import Database
from authbridge.storage.errors import Conflict
from authbridge.storage.models import User, UserRole, utcnow
from authbridge.storage.provider_models import (
    OAuthClient,
    OAuthCode,
    OAuthDeviceCode,
    OAuthRefreshToken,
    OAuthRevokedToken,
    OAuthRobotToken,
)

__all__ = ["CodeRow", "DeviceRow", "ProviderStore", "RefreshRow", "Rotation"]

_codes: Table = OAuthCode.__table__  # type: ignore[assignment]
_refresh: Table = OAuthRefreshToken.__table__  # type: ignore[assignment]
_devices: Table = OAuthDeviceCode.__table__  # type: ignore[assignment]
_revoked: Table = OAuthRevokedToken.__table__  # type: ignore[assignment]
_clients: Table = OAuthClient.__table__  # type: ignore[assignment]
_robots: Table = OAuthRobotToken.__table__  # type: ignore[assignment]
_users: Table = User.__table__  # type: ignore[assignment]


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


@dataclass(frozen=True)
class RefreshRow:
    family_id: str
    client_id: str
    user_id: str
    scope: str
    auth_time: int
    family_expires_at: datetime
    idle_expires_at: datetime


@dataclass(frozen=True)
class Rotation:
    """Outcome of presenting a refresh token: the row if it was fresh, else why not."""

    row: RefreshRow | None
    problem: str | None = None  # "unknown", "reused", "revoked"
    user_active: bool = False


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


def _client_from_row(row: Any) -> Client:
    settings: dict[str, Any] = dict(row.settings or {})
    return Client(
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
        source="database",
    )


class ProviderStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Clients ---------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        settings = {
            "redirect_uris": list(client.redirect_uris),
            "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
            "grant_types": list(client.grant_types),
            "allowed_connectors": list(client.allowed_connectors),
            "access_token_lifetime": client.access_token_lifetime,
            "refresh_token_lifetime": client.refresh_token_lifetime,
            "refresh_token_idle_timeout": client.refresh_token_idle_timeout,
        }
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

    def client(self, client_id: str) -> Client | None:
        with self._db.session() as session:
            row = session.execute(select(_clients).where(_clients.c.client_id == client_id)).first()
        return _client_from_row(row) if row is not None else None

    def clients(self) -> list[Client]:
        with self._db.session() as session:
            rows = session.execute(select(_clients).order_by(_clients.c.client_id)).all()
        return [_client_from_row(row) for row in rows]

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

    # Authorization codes ---------------------------------------------------------------

    def add_code(self, code_hash: str, **values: Any) -> None:
        with self._db.session() as session:
            session.execute(insert(_codes).values(code_hash=code_hash, **values))

    def redeem_code(self, code_hash: str, now: datetime) -> CodeRow | None:
        """Mark the code used and return it; `first_use` is False when it was used before."""
        with self._db.session() as session:
            won = session.execute(
                update(_codes)
                .where(_codes.c.code_hash == code_hash, _codes.c.used_at.is_(None))
                .values(used_at=now)
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
            first_use=bool(getattr(won, "rowcount", 0)),
            family_id=row.family_id,
            access_jti=row.access_jti,
            access_expires_at=row.access_expires_at,
        )

    def record_code_issue(
        self, code_hash: str, family_id: str | None, jti: str, access_expires_at: datetime
    ) -> None:
        with self._db.session() as session:
            session.execute(
                update(_codes)
                .where(_codes.c.code_hash == code_hash)
                .values(family_id=family_id, access_jti=jti, access_expires_at=access_expires_at)
            )

    # Refresh tokens --------------------------------------------------------------------

    def add_refresh(self, token_hash: str, row: RefreshRow) -> None:
        with self._db.session() as session:
            session.execute(
                insert(_refresh).values(
                    token_hash=token_hash, used=False, revoked=False, **row.__dict__
                )
            )

    def rotate_refresh(
        self, token_hash: str, successor_hash: str, now: datetime, idle: int
    ) -> Rotation:
        """Use a refresh token and insert its successor, in one transaction (RFC 9700 §4.14.2).

        A used token presented again revokes its family: either the legitimate client or an
        attacker holds a copy, and the server cannot tell which.
        """
        from datetime import timedelta

        with self._db.session() as session:
            found = session.execute(
                select(_refresh, _users.c.active)
                .join(_users, _users.c.id == _refresh.c.user_id)
                .where(_refresh.c.token_hash == token_hash)
            ).first()
            if found is None:
                return Rotation(None, "unknown")
            if found.revoked:
                return Rotation(None, "revoked")
            won = session.execute(
                update(_refresh)
                .where(_refresh.c.token_hash == token_hash, _refresh.c.used.is_(False))
                .values(used=True)
            )
            if not getattr(won, "rowcount", 0):
                session.execute(
                    update(_refresh)
                    .where(_refresh.c.family_id == found.family_id)
                    .values(revoked=True)
                )
                return Rotation(None, "reused")
            row = RefreshRow(
                family_id=found.family_id,
                client_id=found.client_id,
                user_id=found.user_id,
                scope=found.scope,
                auth_time=found.auth_time,
                family_expires_at=found.family_expires_at,
                idle_expires_at=found.idle_expires_at,
            )
            expired = now >= row.family_expires_at or now >= row.idle_expires_at
            if expired or not found.active:
                session.execute(
                    update(_refresh)
                    .where(_refresh.c.family_id == row.family_id)
                    .values(revoked=True)
                )
                return Rotation(row, "expired" if expired else "inactive", bool(found.active))
            successor = RefreshRow(
                **{
                    **row.__dict__,
                    "idle_expires_at": min(now + timedelta(seconds=idle), row.family_expires_at),
                }
            )
            session.execute(
                insert(_refresh).values(
                    token_hash=successor_hash, used=False, revoked=False, **successor.__dict__
                )
            )
            return Rotation(successor, None, True)

    def refresh_token(self, token_hash: str) -> tuple[RefreshRow, bool] | None:
        """The row and whether it is still usable (not used, not revoked)."""
        with self._db.session() as session:
            found = session.execute(
                select(_refresh).where(_refresh.c.token_hash == token_hash)
            ).first()
        if found is None:
            return None
        row = RefreshRow(
            family_id=found.family_id,
            client_id=found.client_id,
            user_id=found.user_id,
            scope=found.scope,
            auth_time=found.auth_time,
            family_expires_at=found.family_expires_at,
            idle_expires_at=found.idle_expires_at,
        )
        return row, not (found.used or found.revoked)

    def revoke_family(self, family_id: str) -> int:
        with self._db.session() as session:
            result = session.execute(
                update(_refresh)
                .where(_refresh.c.family_id == family_id, _refresh.c.revoked.is_(False))
                .values(revoked=True)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def revoke_user_refresh(self, user_id: str) -> int:
        with self._db.session() as session:
            result = session.execute(
                update(_refresh)
                .where(_refresh.c.user_id == user_id, _refresh.c.revoked.is_(False))
                .values(revoked=True)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # Access-token revocation -----------------------------------------------------------

    def revoke_jti(self, jti: str, expires_at: datetime) -> None:
        with self._db.session() as session:
            exists = session.execute(select(_revoked.c.jti).where(_revoked.c.jti == jti)).first()
            if exists is None:
                session.execute(insert(_revoked).values(jti=jti, expires_at=expires_at))

    def jti_revoked(self, jti: str) -> bool:
        with self._db.session() as session:
            return (
                session.execute(select(_revoked.c.jti).where(_revoked.c.jti == jti)).first()
                is not None
            )

    def delete_expired(self, now: datetime) -> None:
        with self._db.session() as session:
            session.execute(delete(_revoked).where(_revoked.c.expires_at < now))
            session.execute(delete(_codes).where(_codes.c.expires_at < now))
            session.execute(delete(_devices).where(_devices.c.expires_at < now))
            session.execute(
                delete(_refresh).where(
                    (_refresh.c.family_expires_at < now) | (_refresh.c.idle_expires_at < now)
                )
            )

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
        self, user_code: str, *, approve: bool, user_id: str, auth_time: int, now: datetime
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

    def roles(self, user_id: str) -> list[str]:
        with self._db.session() as session:
            return sorted(
                session.scalars(select(UserRole.role_name).where(UserRole.user_id == user_id))
            )

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

    def robot_tokens(self) -> list[Any]:
        with self._db.session() as session:
            return list(
                session.execute(
                    select(_robots, _users.c.username)
                    .join(_users, _users.c.id == _robots.c.user_id)
                    .order_by(_robots.c.created_at)
                ).all()
            )

    def revoke_robot_token(self, jti: str, now: datetime) -> bool:
        with self._db.session() as session:
            row = session.execute(select(_robots).where(_robots.c.jti == jti)).first()
            if row is None or row.revoked_at is not None:
                return False
            session.execute(update(_robots).where(_robots.c.jti == jti).values(revoked_at=now))
            exists = session.execute(select(_revoked.c.jti).where(_revoked.c.jti == jti)).first()
            if exists is None:
                session.execute(insert(_revoked).values(jti=jti, expires_at=row.expires_at))
            return True


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
    )
