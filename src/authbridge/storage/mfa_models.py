"""The second-factor tables (migration `0007_mfatotp_totp`): one TOTP credential per user,
and that user's one-time recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authbridge.clock import utcnow
from authbridge.storage.models import Base

__all__ = ["RecoveryCode", "TotpCredential"]


class TotpCredential(Base):
    """A user's RFC 6238 secret, sealed like the signing keys (`tokens/sealing.py`, bound
    to the user id). `confirmed_at` is None while the enrolment waits for its first code;
    an unconfirmed row lapses after a day (`MfaStore.garbage_collect`)."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_totp_credentials_created", "created_at"),)


class RecoveryCode(Base):
    """One recovery code's argon2id hash; `used_at` is set once, in one conditional UPDATE."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_recovery_codes_user", "user_id"),)
