"""Attaching a first IdP login to the account SCIM provisioned for it.

An IdP that provisions users over SCIM (Okta, Microsoft Entra ID) creates them, with their
teams and roles, before they ever sign in. When one of them then logs in through that
IdP's connector, the connector calls `find_provisioned` and links the identity to the user
it returns instead of creating a second account:

    user = find_provisioned(storage, identity.connector_id, identity.subject,
                            identity.username if identity.email_verified else None)
    if user is not None:
        storage.users.link_identity(user.id, identity.connector_id, identity.subject)

A match is by the IdP's subject first (an identity already linked). Failing that, by the
verified username, and only among users provisioned by the SCIM source bound to that
connector (`scim.<source>.connectorId`, by default the source's own name: the `okta`
connector for `/v1/scim/v2/okta`), so that no other IdP can claim an account by naming
its username. A deactivated user is returned like any other, so that the caller refuses
the login: answering None would let the caller create a fresh, active account for someone
the IdP's administrators deactivated.
"""

from __future__ import annotations

from authbridge.config.model import ScimSettings
from authbridge.storage import Storage
from authbridge.storage.models import User

__all__ = ["find_provisioned", "sources_for_connector"]

SOURCES = ("okta", "microsoft")


def sources_for_connector(connector_id: str, settings: ScimSettings | None = None) -> list[str]:
    """The SCIM sources whose users a login through `connector_id` may attach to."""
    settings = settings or ScimSettings()
    found = []
    for source in SOURCES:
        bound = getattr(settings, source).connector_id or source
        if bound == connector_id:
            found.append(source)
    return found


def find_provisioned(
    storage: Storage,
    connector_id: str,
    subject: str,
    verified_username: str | None,
    settings: ScimSettings | None = None,
) -> User | None:
    """The user this login belongs to, or None (then the caller creates one). The caller
    must refuse the login when the user returned is not active.

    `verified_username` must be None unless the IdP vouched for it (a verified email or
    the IdP's own login name); an unverified name would let anyone claim a provisioned
    account.
    """
    sources = sources_for_connector(connector_id, settings)
    return storage.users.provisioned_match(connector_id, subject, verified_username, sources)
