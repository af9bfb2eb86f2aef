"""One object that ends everything a user holds: browser sessions and the OpenID Provider's
refresh tokens.

It is built once at start-up (by the app's services, or by a CLI command) with what it
revokes passed in, and every path that must end a user's credentials calls it: password
change, SCIM deactivation and delete, the operator's `users disable`, and the removal of a
service account. Nothing registers itself on import, so a process that forgot to import
the provider cannot silently skip the refresh tokens: the constructor asks for them.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["BrowserSessions", "Revocation", "UserCredentialRevoker"]


class UserCredentialRevoker(Protocol):
    """Something that revokes every credential of one kind a user holds (the provider's
    refresh tokens), returning how many it revoked."""

    def revoke_user(self, user_id: str) -> int: ...


class BrowserSessions(Protocol):
    """The browser sessions store, as far as revocation needs it."""

    def delete_for_user(self, user_id: str) -> int: ...


class Revocation:
    """Revokes a user's browser sessions and tokens together; is itself a
    `UserCredentialRevoker`, so callers depend on the protocol only."""

    def __init__(self, *, sessions: BrowserSessions, tokens: UserCredentialRevoker) -> None:
        self._sessions = sessions
        self._tokens = tokens

    def revoke_user(self, user_id: str) -> int:
        """End every session and refresh token of `user_id`; returns how many ended."""
        revoked = self._tokens.revoke_user(user_id)
        return revoked + self._sessions.delete_for_user(user_id)
