"""Second factors, the administrator's side (issue 16 part 5): reset a user's TOTP
credential, recovery codes and passkeys, so that someone who lost them can enrol again at
their next sign-in. One implementation for the admin API (`web/api/user_mfa.py`) and the CLI
(`authbridge users reset-mfa`); each reset is audited, whether or not anything was held."""

from __future__ import annotations

from authbridge.admin.errors import NotFound
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.storage import Storage

__all__ = ["MfaAdmin"]


class MfaAdmin:
    def __init__(self, storage: Storage, audit: AuditSink) -> None:
        self._storage = storage
        self._audit = audit

    def enrolled(self, user_id: str) -> bool:
        """Whether the user holds a confirmed second factor, TOTP or a passkey (what the
        console shows)."""
        stored = self._storage.mfa.totp(user_id)
        totp = stored is not None and stored.confirmed
        return totp or self._storage.passkeys.count(user_id) > 0

    def reset(self, actor: Actor, user_id: str) -> bool:
        """Remove the user's second factors; True if they had any."""
        user = self._storage.users.get(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        removed = self._storage.mfa.remove(user_id)
        passkeys = self._storage.passkeys.remove_all(user_id)
        removed = removed or passkeys > 0
        self._audit.record(
            AuditEvent(
                "user.mfa_reset",
                actor,
                Target("user", user.id, user.username),
                details={"removed": removed, "passkeys_removed": passkeys},
            )
        )
        return removed
