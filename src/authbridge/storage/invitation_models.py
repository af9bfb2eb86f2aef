"""The invitations table (migration `0006_invitations`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from authbridge.clock import utcnow
from authbridge.storage.models import Base

__all__ = ["Invitation"]


class Invitation(Base):
    """An email invited by an administrator, with the teams and role bindings its account
    gets. Only the SHA-256 of the link's token is kept (`token_hash`); `status` is
    `pending`, `accepted` or `revoked`, and moves out of `pending` once, in one UPDATE."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address compared case-insensitively (the domain is folded by normalize_email,
    # the local part here: IdPs differ in how they spell it back).
    email_key: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64))
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"role": ..., "scope": ...}]
    bindings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    emailed: Mapped[bool] = mapped_column(default=False)
    invited_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    accepted_by: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
        Index("ix_invitations_email_key", "email_key"),
        Index("ix_invitations_created", "created_at", "id"),
        Index("ix_invitations_expires", "expires_at"),
    )
