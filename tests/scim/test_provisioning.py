"""A first IdP login attaches to the account SCIM provisioned (directory.provisioning), and
only through the IdP bound to that provisioning source."""

from __future__ import annotations

from authbridge.config.model import ScimSettings, ScimSourceSettings
from authbridge.directory.provisioning import find_provisioned
from authbridge.storage import Storage
from tests.wiring import scim_service

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _provision(storage: Storage, source: str, username: str, **extra: object) -> str:
    service = scim_service(storage, ScimSettings(), source=source, base_url="http://t")
    return str(
        service.create_user({"schemas": [USER], "userName": username, **extra}, actor="t")["id"]
    )


def test_first_login_attaches_by_verified_username_of_that_idp_only(storage: Storage) -> None:
    uid = _provision(storage, "okta", "Ivy@Example.com")
    found = find_provisioned(storage, "okta", "00u-subject", "ivy@example.com")
    assert found is not None and found.id == uid
    # Another IdP naming the same username cannot claim the account.
    assert find_provisioned(storage, "microsoft", "oid-1", "ivy@example.com") is None
    assert find_provisioned(storage, "google", "g-1", "ivy@example.com") is None
    # An unverified username (None) never matches.
    assert find_provisioned(storage, "okta", "00u-subject", None) is None


def test_later_logins_match_by_subject_and_a_linked_account_is_not_reclaimed(
    storage: Storage,
) -> None:
    uid = _provision(storage, "okta", "jack@example.com")
    storage.users.link_identity(uid, "okta", "00u-jack")
    assert find_provisioned(storage, "okta", "00u-jack", None).id == uid  # type: ignore[union-attr]
    # A different okta subject presenting the same username is someone else.
    assert find_provisioned(storage, "okta", "00u-other", "jack@example.com") is None


def test_connector_binding_and_deactivated_users(storage: Storage) -> None:
    settings = ScimSettings(microsoft=ScimSourceSettings(connector_id="corp-entra"))
    uid = _provision(storage, "microsoft", "kate@example.com")
    assert find_provisioned(storage, "corp-entra", "oid", "kate@example.com", settings).id == uid  # type: ignore[union-attr]
    assert find_provisioned(storage, "microsoft", "oid", "kate@example.com", settings) is None
    leo = _provision(storage, "okta", "leo@example.com", active=False)
    # A deactivated account is found (and the caller refuses the login): answering None would
    # let the caller create a fresh active account for someone the IdP deactivated.
    found = find_provisioned(storage, "okta", "00u-leo", "leo@example.com")
    assert found is not None and found.id == leo and not found.active
