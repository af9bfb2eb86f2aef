"""One place that ends everything a user holds: browser sessions and (once the provider
stores them) refresh tokens. Called on deactivation (SCIM `active: false`), password
change elsewhere, and admin action, so no revocation path forgets a kind of credential."""

from __future__ import annotations

from collections.abc import Callable

from authbridge.storage import Storage

__all__ = ["register_revoker", "revoke_user"]

_revokers: list[Callable[[Storage, str], int]] = []


def register_revoker(revoker: Callable[[Storage, str], int]) -> None:
    """Add a kind of credential to revoke (e.g. the provider's refresh tokens)."""
    if revoker not in _revokers:
        _revokers.append(revoker)


def _browser_sessions(storage: Storage, user_id: str) -> int:
    return storage.sessions.delete_for_user(user_id)


register_revoker(_browser_sessions)


def revoke_user(storage: Storage, user_id: str) -> int:
    """Revoke every credential of `user_id`; returns how many were revoked."""
    return sum(revoker(storage, user_id) for revoker in _revokers)
