"""SQLAlchemy 2 table models. Alembic migrations under `migrations/` create them.

Times are timezone-aware UTC everywhere (SQLite keeps them as naive UTC; `UTCDateTime`
restores the zone). Secrets the service must be able to compare but never read back
(session ids, setup tokens) are stored as SHA-256 digests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from authbridge.clock import utcnow  # column defaults

__all__ = [
    "Base",
    "BrowserSession",
    "Identity",
    "KeyValue",
    "RateLimitCounter",
    "RoleBinding",
    "SigningKey",
    "Team",
    "TeamMember",
    "TeamMemberSource",
    "User",
    "column_values",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware in UTC, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime()}


def column_values(instance: Base) -> dict[str, Any]:
    """An unsaved instance's column values, for a Core insert of it on a hot path (a prebuilt
    INSERT skips the ORM's unit of work)."""
    return {column.key: getattr(instance, column.key) for column in instance.__table__.columns}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(320))
    # userName is case-insensitive (RFC 7643 §4.1.1); the lower-cased copy carries the index.
    username_key: Mapped[str] = mapped_column(String(320), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(256))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_users_email", "email"),)


class Identity(Base):
    """A link from an upstream identity (connector id, subject) to a user."""

    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connector_id: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(512))
    email: Mapped[str | None] = mapped_column(String(320))
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("connector_id", "subject", name="uq_identities_connector_subject"),
        Index("ix_identities_user", "user_id"),
    )


class Team(Base):
    """A team. `managed_by` is the membership source that owns it (`scim:<source>`,
    `idp:<connector>`, `local`); `name_key` is `team_key(managed_by, name)`, so two sources
    may each have a team of one name (distinct ids) and neither blocks the other."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    name_key: Mapped[str] = mapped_column(String(512), unique=True)
    # The case-insensitive name alone (SCIM filters and sorts on displayName).
    name_fold: Mapped[str] = mapped_column(String(256), default="", index=True)
    source: Mapped[str] = mapped_column(String(128), default="local")
    managed_by: Mapped[str] = mapped_column(String(160), default="local")
    description: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamMemberSource(Base):
    """One source's word that a user is in a team (`source`: `scim:<source>`,
    `idp:<connector>`, `local`). `team_members` is materialized from these rows: a user is
    in a team while some source says so (storage/teams.py keeps the two in step)."""

    __tablename__ = "team_member_sources"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(160), primary_key=True)

    __table_args__ = (Index("ix_team_member_sources_user", "user_id", "source"),)


class TeamMember(Base):
    """The materialized membership every reader uses (tokens, roles through teams)."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_team_members_user", "user_id"),)


class RoleBinding(Base):
    """A role given to a user or a team at a scope (`system`, or a platform scope such as
    `workspace:ws1`). `principal` (`user:<id>` / `team:<id>`) carries the uniqueness, since
    NULLs in a unique constraint never collide; the two foreign keys carry the cascades.
    The role name is checked against the catalog when granted (configured roles live in the
    configuration, not in a table); `origin` says who made it (`cli`, `scim:okta`,
    `config:authorizer.initialAdmins`, ...)."""

    __tablename__ = "role_bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(256), default="system")
    principal: Mapped[str] = mapped_column(String(48))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("principal", "role", "scope", name="uq_role_bindings"),
        CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name="ck_role_bindings_one_principal"
        ),
        Index("ix_role_bindings_user", "user_id"),
        Index("ix_role_bindings_team", "team_id"),
        Index("ix_role_bindings_origin", "origin"),
    )


class BrowserSession(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored."""

    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    auth_method: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    # How the person signed in (migration 0007_mfa_upstream): RFC 8176 method values,
    # space-separated (registered values are short tokens; text keeps the provider's
    # constant-SQL hot path free of JSON binds), the platform's acr level
    # (middleware/authn.py), and when the person last authenticated (OIDC Core §2
    # `auth_time`; a session made before the migration reads its created_at).
    amr: Mapped[str | None] = mapped_column(String(256))
    acr: Mapped[str | None] = mapped_column(String(256))
    authenticated_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_browser_sessions_user", "user_id"),)

    @property
    def methods(self) -> tuple[str, ...]:
        """The `amr` values (RFC 8176) of this sign-in."""
        return tuple((self.amr or "").split())

    @property
    def auth_time(self) -> datetime:
        """When the person authenticated (OIDC Core §2 `auth_time`)."""
        return self.authenticated_at or self.created_at


class SigningKey(Base):
    """A token signing key. Published from `created_at`, signs from `signs_from`,
    and stays published until `published_until` once a newer key has replaced it."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    signs_from: Mapped[datetime] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()
    published_until: Mapped[datetime | None] = mapped_column()
    # A bound on the expiry of every token this key signed (raised as it signs), so the key
    # stays published while any of them is valid, whatever lifetime each was given.
    signed_until: Mapped[datetime | None] = mapped_column()


class RateLimitCounter(Base):
    """Failures counted for one limiter key within a fixed window."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(Integer, default=0)
    # When this counter's window ends (each limiter has its own window); NULL only for
    # counters written before the column existed (migration 0002_expiry).
    expires_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_rate_limit_counters_expires_at", "expires_at"),)


class KeyValue(Base):
    """Small service-wide values shared by replicas (the CSRF key, the setup token digest,
    pending IdP logins)."""

    __tablename__ = "key_values"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # NULL: kept until deleted (the CSRF key); otherwise garbage once past (pending logins).
    expires_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_key_values_expires_at", "expires_at"),)
