"""The services as the app wires them, for tests that build one service by hand."""

from __future__ import annotations

from authbridge.config.model import ScimSettings, Settings
from authbridge.directory.pending_logins import PendingLogins
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings, RoleResolver
from authbridge.scim.service import ScimService
from authbridge.storage import Storage

__all__ = ["revocation_for", "role_bindings", "scim_service", "system_roles"]


class _RefreshTokens:
    """The provider's refresh tokens, revoked per user (the app passes its OpenIDProvider)."""

    def __init__(self, storage: Storage) -> None:
        self._store = storage.provider

    def revoke_user(self, user_id: str) -> int:
        return self._store.revoke_user(user_id)


def revocation_for(storage: Storage) -> Revocation:
    """Browser sessions and refresh tokens over `storage`, as `Services` builds it."""
    return Revocation(
        sessions=storage.sessions,
        tokens=_RefreshTokens(storage),
        pending=PendingLogins(storage.values),
    )


def scim_service(
    storage: Storage, settings: ScimSettings | None = None, *, source: str, base_url: str
) -> ScimService:
    """A SCIM service of `source` wired with the revocation, as `Services` builds it."""
    return ScimService(
        storage,
        settings or ScimSettings(),
        source=source,
        base_url=base_url,
        revocation=revocation_for(storage),
    )


def role_bindings(storage: Storage, settings: Settings | None = None) -> RoleBindings:
    """The role bindings service over `storage`, as `Services` builds it."""
    return RoleBindings(storage, RoleResolver.from_settings(settings or Settings()))


def system_roles(storage: Storage, user_id: str, settings: Settings | None = None) -> list[str]:
    """The user's effective roles at system scope, sorted (what `roles` in a token says)."""
    return sorted(role_bindings(storage, settings).effective_roles(user_id).system)
