"""The services as the app wires them, for tests that build one service by hand."""

from __future__ import annotations

from authbridge.config.model import ScimSettings
from authbridge.directory.revocation import Revocation
from authbridge.scim.service import ScimService
from authbridge.storage import Storage

__all__ = ["revocation_for", "scim_service"]


class _RefreshTokens:
    """The provider's refresh tokens, revoked per user (the app passes its OpenIDProvider)."""

    def __init__(self, storage: Storage) -> None:
        self._store = storage.provider

    def revoke_user(self, user_id: str) -> int:
        return self._store.revoke_user(user_id)


def revocation_for(storage: Storage) -> Revocation:
    """Browser sessions and refresh tokens over `storage`, as `Services` builds it."""
    return Revocation(sessions=storage.sessions, tokens=_RefreshTokens(storage))


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
