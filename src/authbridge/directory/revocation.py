"""One object that ends everything a user holds: browser sessions, sign-ins waiting for
their second factor, and the OpenID Provider's refresh tokens.

It is built once at start-up (by the app's services, or by a CLI command) with what it
revokes passed in, and every path that must end a user's credentials calls it: password
change, SCIM deactivation and delete, the operator's `users disable`, and the removal of a
service account; `authbridge robots revoke` calls `revoke_robot_token`; the account page
ends one of the user's own sessions (`end_session`) or apps (`end_grant`). Storage records each
revocation on the revocation feed in the same transaction (token ids, and the user as a
subject whose earlier access tokens are refused), which the middleware of the platform's
services follows; the change bus tells the other replicas at once. Nothing registers
itself on import, so a process that forgot to import the provider cannot silently skip the
refresh tokens: the constructor asks for them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from authbridge.storage.notify import ChangeBus, Topic

__all__ = [
    "BrowserSessions",
    "GrantRevoker",
    "PendingSignIns",
    "Revocation",
    "TokenRevoker",
    "UserCredentialRevoker",
]


class UserCredentialRevoker(Protocol):
    """Something that revokes every credential of one kind a user holds (the provider's
    refresh tokens), returning how many it revoked."""

    def revoke_user(self, user_id: str) -> int: ...


@runtime_checkable
class TokenRevoker(UserCredentialRevoker, Protocol):
    """The OpenID Provider as far as revocation needs it: a user's credentials, and one
    robot token by its id."""

    def revoke_robot_token(self, jti: str) -> bool: ...


@runtime_checkable
class GrantRevoker(UserCredentialRevoker, Protocol):
    """The OpenID Provider as far as ending one of a user's grants needs it."""

    def revoke_grant(self, user_id: str, family_id: str) -> bool: ...


class BrowserSessions(Protocol):
    """The browser sessions store, as far as revocation needs it."""

    def delete_for_user(self, user_id: str) -> int: ...

    def delete_of_user(self, user_id: str, id_hash: str) -> bool: ...


class PendingSignIns(Protocol):
    """Sign-ins between the password and the second factor (directory/pending_logins.py),
    as far as revocation needs them."""

    def void_user(self, user_id: str) -> None: ...


class Revocation:
    """Revokes a user's browser sessions and tokens together; is itself a
    `UserCredentialRevoker`, so callers depend on the protocol only."""

    def __init__(
        self,
        *,
        sessions: BrowserSessions,
        tokens: UserCredentialRevoker,
        pending: PendingSignIns,
        changes: ChangeBus | None = None,
    ) -> None:
        self._sessions = sessions
        self._pending = pending
        self._tokens = tokens
        self._changes = changes

    def revoke_user(self, user_id: str) -> int:
        """End every session and refresh token of `user_id`, void their sign-ins waiting
        for a second factor, and put it on the revocation feed (storage writes the feed in
        the revocation's transaction); returns how many credentials ended."""
        # First: a pending login finishing meanwhile must not start a session after the
        # sessions below were ended.
        self._pending.void_user(user_id)
        revoked = self._tokens.revoke_user(user_id)
        revoked += self._sessions.delete_for_user(user_id)
        self._published()
        return revoked

    def end_session(self, user_id: str, id_hash: str) -> bool:
        """End one browser session of `user_id` (that browser is signed out at its next
        request, sessions being read from storage each time); False if no such session is
        the user's."""
        return self._sessions.delete_of_user(user_id, id_hash)

    def end_grant(self, user_id: str, family_id: str) -> bool:
        """End one app's access: the refresh-token family `family_id` of `user_id` (its
        next refresh is refused; its access token lapses within its short lifetime)."""
        tokens = self._tokens
        if not isinstance(tokens, GrantRevoker):
            raise TypeError("this Revocation was built without the OpenID Provider")
        return tokens.revoke_grant(user_id, family_id)

    def revoke_robot_token(self, jti: str) -> bool:
        """Revoke one robot token (`authbridge robots revoke`); False if none is active."""
        tokens = self._tokens
        if not isinstance(tokens, TokenRevoker):
            raise TypeError("this Revocation was built without the OpenID Provider")
        revoked = tokens.revoke_robot_token(jti)
        if revoked:
            self._published()
        return revoked

    def _published(self) -> None:
        # Other replicas learn at once (a feed reader waiting on it answers early).
        if self._changes is not None:
            self._changes.publish(Topic.REVOCATIONS)
