"""What a user holds, for `UserAdmin`: browser sessions, refresh-token families and
identity links, each listed and revocable one by one (`UserAdmin.revoke` ends them all).

A mixin rather than a second service, so the API and the CLI reach every act on a user
through `admin.users`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from authbridge.admin.errors import Forbidden, NotFound
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.clock import utcnow
from authbridge.directory.email_links import PasswordResets, resettable
from authbridge.provider.service import OpenIDProvider
from authbridge.storage import Storage
from authbridge.storage.models import BrowserSession, Identity, User
from authbridge.storage.user_admin import RefreshFamily, UserAdminStore, UserRow

__all__ = ["HeldCredentials", "RefreshTokenFamily"]


@dataclass(frozen=True)
class RefreshTokenFamily:
    family_id: str
    client_id: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime


class HeldCredentials:
    """The acts on what a user holds; `UserAdmin` provides the stores, the sink and `get`
    (a missing user is NotFound before anything else is looked at)."""

    _storage: Storage
    _store: UserAdminStore
    _resets: PasswordResets | None
    _provider: OpenIDProvider
    _audit: AuditSink

    def get(self, user_id: str) -> UserRow:
        raise NotImplementedError

    def sessions(self, user_id: str) -> list[BrowserSession]:
        self.get(user_id)
        return self._store.sessions(user_id, utcnow())

    def end_session(self, actor: Actor, user_id: str, handle: str) -> None:
        row = self.get(user_id)
        ended = self._store.delete_session(user_id, handle)
        if ended is None:
            raise NotFound(f"no session {handle!r} of this user")
        self._record_held("session.revoked", actor, Target("session", handle), row.user)

    def refresh_tokens(self, user_id: str) -> list[RefreshTokenFamily]:
        self.get(user_id)
        return [self._family(f) for f in self._store.refresh_families(user_id, utcnow())]

    def revoke_refresh_family(self, actor: Actor, user_id: str, family_id: str) -> None:
        row = self.get(user_id)
        if self._store.family_owner(family_id) != user_id:
            raise NotFound(f"no refresh token family {family_id!r} of this user")
        self._storage.provider.revoke_family(family_id)
        target = Target("refresh_token", family_id)
        self._record_held("refresh_token.revoked", actor, target, row.user)

    def identities(self, user_id: str) -> list[Identity]:
        self.get(user_id)
        return self._store.identities(user_id)

    def unlink_identity(self, actor: Actor, user_id: str, identity_id: int) -> None:
        """Remove an identity link; refused when it is the only way into an account with no
        password (the account would be unreachable)."""

        def guard(user: User, other_links: int) -> None:
            if user.password_hash is None and other_links == 0:
                raise Forbidden(
                    "this is the only way to sign in to this account (it has no password)"
                )

        row = self.get(user_id)
        link = self._store.unlink_identity(user_id, identity_id, guard)
        if link is None:
            raise NotFound(f"no identity {identity_id} of user {user_id!r}")
        target = Target("identity", str(identity_id), f"{link.connector_id}/{link.subject}")
        self._record_held("identity.unlinked", actor, target, row.user)

    @property
    def resets_mailed(self) -> bool:
        """Whether a reset link goes to the user's address (else back to the caller, who
        then holds the account: the glue demands roles.write for one that has roles)."""
        return self._resets is not None and self._resets.mails

    def reset_password(self, actor: Actor, user_id: str) -> str | None:
        """A password-reset link for a local account, through the one `PasswordResets`
        (the link the forgot-password page mails): mailed to the user when `smtp:` is
        configured (None returned), else returned for the administrator to pass on (shown
        once; never stored, logged or audited). Using it ends every session and token."""
        row = self.get(user_id)
        resets = self._resets
        if resets is None:
            raise Forbidden("local accounts are off: there are no passwords to reset")
        if not resettable(row.user, mailed=resets.mails):
            raise Forbidden(
                "only an active local account (with a password"
                + (" and an email address" if resets.mails else "")
                + ") can reset its password; an IdP's account resets it at the IdP"
            )
        link = resets.issue(row.user)
        self._audit.record(
            AuditEvent(
                "user.password_reset_issued",
                actor,
                Target("user", row.user.id, row.user.username),
                details={"emailed": link is None},
            )
        )
        return link

    def _family(self, family: RefreshFamily) -> RefreshTokenFamily:
        # The live token's idle expiry is its issuance plus the client's idle timeout unless
        # the family's end capped it, so a rotated family's last use can be recovered.
        last_used = None
        client = self._provider.registry.get(family.client_id)
        capped = family.idle_expires_at >= family.family_expires_at
        if family.rotated and client is not None and not capped:
            idle = timedelta(seconds=client.refresh_token_idle_timeout)
            last_used = family.idle_expires_at - idle
        return RefreshTokenFamily(
            family_id=family.family_id,
            client_id=family.client_id,
            created_at=family.created_at,
            last_used_at=last_used,
            expires_at=min(family.idle_expires_at, family.family_expires_at),
        )

    def _record_held(self, type_: str, actor: Actor, target: Target, user: User) -> None:
        """An event about something a user holds: the target is it, the user in details."""
        details = {"user": user.id, "username": user.username}
        self._audit.record(AuditEvent(type_, actor, target, details=details))
