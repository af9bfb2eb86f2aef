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
IdP's immutable id of the person as its SCIM client sends it in `externalId` (`stable_ids`:
Entra's `oid`, its objectId; Okta's user id, which is also the OIDC `sub`), then by an
email the IdP proved (`email_verified`, or Entra's `xms_edov`) equal to the provisioned
userName or primary email, never an unverified one; and only among users provisioned by
the SCIM source bound to that connector (`scim.<source>.connectorId`, by default the
source's own name: the `okta` connector for `/v1/scim/v2/okta`), so that no other IdP can
claim an account by naming its username. A deactivated user is returned like any other, so
that the caller refuses the login: answering None would let the caller create a fresh,
active account for someone the IdP's administrators deactivated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authbridge.config.model import ScimSettings
from authbridge.storage import Storage
from authbridge.storage.models import User

__all__ = ["authoritative_sources", "find_provisioned", "sources_for_connector", "stable_ids"]

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


def authoritative_sources(connector_id: str, settings: ScimSettings | None = None) -> list[str]:
    """The sources bound to `connector_id` with `authoritative: true`: only the people they
    provisioned (and still have, active) may sign in through it."""
    settings = settings or ScimSettings()
    return [
        source
        for source in sources_for_connector(connector_id, settings)
        if getattr(settings, source).authoritative
    ]


def stable_ids(subject: str, claims: Mapping[str, Any]) -> list[str]:
    """The IdP's immutable ids of the person, as a SCIM client sends them in externalId.

    Okta's SCIM `externalId` is the Okta user id, which is the OIDC `sub`. Entra's is the
    user's objectId, the `oid` claim; it is read only when the connector keyed the user by
    it (the Microsoft preset's subject `<tid>:<oid>`), so no other IdP's claim named `oid`
    can select a provisioned account."""
    ids = [subject]
    oid, tid = claims.get("oid"), claims.get("tid")
    if isinstance(oid, str) and isinstance(tid, str) and oid and subject == f"{tid}:{oid}":
        ids.insert(0, oid)
    return ids


def find_provisioned(
    storage: Storage,
    connector_id: str,
    subject: str,
    verified_username: str | None,
    settings: ScimSettings | None = None,
    claims: Mapping[str, Any] | None = None,
) -> User | None:
    """The user this login belongs to, or None (then the caller creates one). The caller
    must refuse the login when the user returned is not active.

    `verified_username` must be None unless the IdP vouched for it (a verified email or
    the IdP's own login name); an unverified name would let anyone claim a provisioned
    account.
    """
    sources = sources_for_connector(connector_id, settings)
    return storage.users.provisioned_match(
        connector_id, subject, verified_username, sources, stable_ids(subject, claims or {})
    )
