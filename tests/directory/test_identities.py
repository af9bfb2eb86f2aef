"""Linking a provisioned user to a login, safely, and authoritative sources (issue 12 part 5),
replayed from Okta's and Entra ID's payloads (tests/data/scim/linking/), on every backend.

Each of the first three failed on main: the Entra user provisioned then signing in got a
second account (main matched only by a verified email equal to userName, and Entra does
not verify `email`); after a SCIM DELETE, or for someone the source never provisioned, the
connector made a fresh viewer.
"""

from __future__ import annotations

import pytest

from authbridge.config.model import AuthorizerSettings, ScimSettings, ScimSourceSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.directory.identities import IdentityLinker, SignInRefused
from authbridge.storage import Storage
from tests.directory.vendor import login, payload
from tests.wiring import scim_service


def linker(storage: Storage, scim: ScimSettings | None = None) -> IdentityLinker:
    return IdentityLinker(storage, AuthorizerSettings(), scim or ScimSettings())


def authoritative_linker(storage: Storage) -> IdentityLinker:
    both = ScimSourceSettings(authoritative=True)
    return linker(storage, ScimSettings(okta=both, microsoft=both))


def provision(storage: Storage, vendor: str, **changes: object) -> str:
    body = {**payload(vendor, "scim_user"), **changes}
    service = scim_service(storage, source=vendor, base_url=f"http://t/v1/scim/v2/{vendor}")
    return str(service.create_user(body, actor=vendor)["id"])


def test_entra_provisioned_then_login_is_one_account_with_the_scim_roles(
    storage: Storage,
) -> None:
    provisioned = provision(storage, "microsoft")
    # Entra's token: `oid` is the objectId that SCIM sent as externalId; `email` unverified.
    user = linker(storage).sign_in(login("microsoft"), SignupPolicy())
    assert user.id == provisioned
    assert storage.users.count() == 1
    assert storage.bindings.grants(user.id).bindings == (("viewer", "system"),)  # defaultRoles
    # And the next login finds it by the linked identity.
    assert linker(storage).sign_in(login("microsoft"), SignupPolicy()).id == provisioned


def test_okta_provisioned_then_login_links_by_the_okta_user_id(storage: Storage) -> None:
    # Okta's SCIM externalId is the Okta user id, which is the OIDC `sub`.
    provisioned = provision(storage, "okta", userName="renamed@okta.local", emails=[])
    user = linker(storage).sign_in(login("okta"), SignupPolicy())
    assert user.id == provisioned and storage.users.count() == 1


def test_deleted_then_login_under_an_authoritative_source_is_refused_and_audited(
    storage: Storage,
) -> None:
    uid = provision(storage, "okta")
    assert authoritative_linker(storage).sign_in(login("okta"), SignupPolicy()).id == uid
    service = scim_service(storage, source="okta", base_url="http://t/v1/scim/v2/okta")
    service.delete_user(uid, actor="okta")
    with pytest.raises(SignInRefused) as refused:
        authoritative_linker(storage).sign_in(login("okta"), SignupPolicy())
    assert "removed" in refused.value.message
    assert "scim.okta.authoritative" in (refused.value.hint or "")
    assert storage.users.count() == 0  # no fresh viewer
    # What the audit log's `signin.refused` event records (web/oauth_client_routes.py).
    assert (refused.value.reason, refused.value.source) == ("not_provisioned", "okta")


def test_deactivated_then_login_under_an_authoritative_source_is_refused(
    storage: Storage,
) -> None:
    uid = provision(storage, "microsoft")
    authoritative_linker(storage).sign_in(login("microsoft"), SignupPolicy())
    service = scim_service(storage, source="microsoft", base_url="http://t/v1/scim/v2/microsoft")
    service.patch_user(
        uid,
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
        actor="microsoft",
    )
    with pytest.raises(SignInRefused) as refused:
        authoritative_linker(storage).sign_in(login("microsoft"), SignupPolicy())
    assert "deactivated" in refused.value.message
    refusal = refused.value
    assert (refusal.reason, refusal.source, refusal.user_id) == ("deactivated", "microsoft", uid)


def test_never_provisioned_is_refused_only_when_the_source_is_authoritative(
    storage: Storage,
) -> None:
    with pytest.raises(SignInRefused):
        authoritative_linker(storage).sign_in(login("okta"), SignupPolicy())
    assert storage.users.count() == 0
    # Not authoritative: the connector's own sign-up rules decide, as before.
    assert linker(storage).sign_in(login("okta"), SignupPolicy()).active
    # Another connector, bound to no authoritative source, is not concerned.
    other = login("okta", connector_id="okta-staging")
    assert authoritative_linker(storage).sign_in(other, SignupPolicy()).active


def test_an_account_from_before_the_source_was_authoritative_is_refused(
    storage: Storage,
) -> None:
    linker(storage).sign_in(login("okta"), SignupPolicy())  # a login-made account
    with pytest.raises(SignInRefused):
        authoritative_linker(storage).sign_in(login("okta"), SignupPolicy())


def test_an_unverified_email_never_links(storage: Storage) -> None:
    provisioned = provision(storage, "okta")
    # Another Okta user whose (unverified) email and preferred_username are the
    # provisioned user's: a new account, never the provisioned one.
    impostor = linker(storage).sign_in(login("okta", "impostor_id_token"), SignupPolicy())
    assert impostor.id != provisioned
    assert not impostor.username.casefold().startswith("test.user@")
    with pytest.raises(SignInRefused):
        authoritative_linker(storage).sign_in(
            login("okta", "impostor_id_token", connector_id="okta"), SignupPolicy()
        )
    # Entra: email without xms_edov is unverified, and the oid differs: no link either.
    entra = provision(storage, "microsoft", externalId="AbeLi")
    claims_unproved = login("microsoft", "verified_email_id_token")
    unproved = type(claims_unproved)(
        **{**claims_unproved.__dict__, "email_verified": False, "subject": "t:other"}
    )
    assert linker(storage).sign_in(unproved, SignupPolicy()).id != entra


def test_an_email_entra_proved_with_xms_edov_links(storage: Storage) -> None:
    # Entra's default mapping sends mailNickname as externalId (not the oid): the address
    # links only because the token says Entra verified it (`xms_edov`).
    entra = provision(storage, "microsoft", externalId="AbeLi")
    user = linker(storage).sign_in(login("microsoft", "verified_email_id_token"), SignupPolicy())
    assert user.id == entra and storage.users.count() == 1


def test_a_claim_named_oid_from_another_idp_selects_nothing(storage: Storage) -> None:
    provisioned = provision(storage, "microsoft")
    okta = login("okta", "impostor_id_token", connector_id="microsoft")
    forged = type(okta)(
        **{
            **okta.__dict__,
            "claims": {**okta.claims, "oid": payload("microsoft", "scim_user")["externalId"]},
        }
    )
    # The subject is not `<tid>:<oid>`, so the `oid` claim is not this IdP's key.
    assert linker(storage).sign_in(forged, SignupPolicy()).id != provisioned
