"""The passkey table (migration `0008_passkeys`): a user's WebAuthn credentials, several
per user (directory/passkeys.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from authbridge.clock import utcnow
from authbridge.storage.models import Base

__all__ = ["Passkey"]


class Passkey(Base):
    """One registered public key credential (WebAuthn Level 2 §6.1 "credential record"):
    the credential id (unique across users: the authenticator's handle for it), its COSE
    public key, the last signature counter seen, the transports it reported, and whether
    it may be synced (backup eligible: `swk` rather than `hwk` in `amr`)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[str] = mapped_column(String(200), default="")
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_passkeys_user", "user_id"),)
