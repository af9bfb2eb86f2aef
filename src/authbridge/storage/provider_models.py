"""Tables of the OpenID Provider: clients, authorization codes, refresh tokens, device codes,
revoked access-token ids and robot tokens.

Every bearer value (client secret, code, refresh token, device code) is stored as its
SHA-256 digest only: a copy of the database hands nobody a usable credential. These values
are 256-bit random strings, so a fast digest is enough (no password hashing needed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authbridge.clock import utcnow
from authbridge.storage.models import Base

__all__ = [
    "OAuthClient",
    "OAuthCode",
    "OAuthDeviceCode",
    "OAuthRefreshToken",
    "OAuthRevokedToken",
    "OAuthRobotToken",
]


class OAuthClient(Base):
    """A client registered through the CLI (clients in the config file are not stored)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    # The secret a rotation replaced, accepted until `previous_secret_expires_at` so that the
    # client's replicas can switch to the new one without downtime (migration 0006).
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column()
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A service account's client: client_credentials tokens speak for this user.
    service_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthCode(Base):
    """An authorization code (RFC 6749 §4.1.2): single use, lives at most ten minutes."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    auth_time: Mapped[int] = mapped_column(Integer)
    # The session's amr (space-separated RFC 8176 values) and acr, for the tokens it yields.
    amr: Mapped[str | None] = mapped_column(String(256))
    acr: Mapped[str | None] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    # What the first redemption issued, so that a replay can revoke it (RFC 6749 §4.1.2).
    family_id: Mapped[str | None] = mapped_column(String(64))
    access_jti: Mapped[str | None] = mapped_column(String(64))
    access_expires_at: Mapped[datetime | None] = mapped_column()
    # Set by a redemption that lost (a replay): the winner checks it after recording what it
    # issued, so a replay racing the first redemption still revokes its tokens.
    replayed_at: Mapped[datetime | None] = mapped_column()


class OAuthRefreshToken(Base):
    """One refresh token of a rotation family (RFC 9700 §4.14.2).

    A family starts at a code or device grant. Each use marks the token used and adds its
    successor; presenting a used token revokes the family.
    """

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text, default="")
    auth_time: Mapped[int] = mapped_column(Integer)
    # The sign-in's amr/acr: a refreshed access token still says how the person signed in.
    amr: Mapped[str | None] = mapped_column(String(256))
    acr: Mapped[str | None] = mapped_column(String(256))
    family_expires_at: Mapped[datetime] = mapped_column()
    idle_expires_at: Mapped[datetime] = mapped_column()
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_oauth_refresh_family", "family_id"),
        Index("ix_oauth_refresh_user", "user_id"),
    )


class OAuthDeviceCode(Base):
    """A device authorization (RFC 8628 §3.2) waiting for its user code to be approved."""

    __tablename__ = "oauth_device_codes"

    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime] = mapped_column()
    interval: Mapped[int] = mapped_column(Integer, default=5)
    last_polled_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    auth_time: Mapped[int | None] = mapped_column(Integer)
    amr: Mapped[str | None] = mapped_column(String(256))
    acr: Mapped[str | None] = mapped_column(String(256))


class OAuthRevokedToken(Base):
    """A revoked access token's `jti`, kept until the token would have expired anyway."""

    __tablename__ = "oauth_revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class OAuthRobotToken(Base):
    """A long-lived access token an admin issued to a service account (a robot token)."""

    __tablename__ = "oauth_robot_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
