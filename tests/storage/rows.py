"""Rows the storage tests make again and again, made one way: the contract's clock and a
browser session of a user (what `sessions.create` needs, with the defaults the tests use)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def start_session(
    storage: Storage,
    user_id: str,
    name: str,
    expires_at: datetime | None = None,
    *,
    auth_method: str = "local",
    amr: tuple[str, ...] = (),
    acr: str | None = None,
) -> str:
    """A session of `user_id` started at NOW (an hour long unless `expires_at`); its id hash
    is `name` padded to 64 characters."""
    id_hash = name.ljust(64, "0")
    storage.sessions.create(
        id_hash=id_hash,
        user_id=user_id,
        auth_method=auth_method,
        now=NOW,
        expires_at=expires_at or NOW + timedelta(hours=1),
        amr=amr,
        acr=acr,
    )
    return id_hash
