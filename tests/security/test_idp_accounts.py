"""Red team: taking over or squatting accounts through identity-provider logins.

Attacks on `directory.identities.IdentityLinker` and `directory.provisioning` on every
storage backend. Findings are strict xfails (a fix flips them and forces the marker off);
plain tests are attacks that the code defends today.
"""

from __future__ import annotations

import pytest

from authbridge.config.model import AuthorizerSettings, ScimSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.identities import IdentityLinker, SignInRefused
from authbridge.storage import Storage
from tests.wiring import scim_service, system_roles

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def ident(connector: str = "okta", subject: str = "00u-ivy", **values: object) -> Identity:
    base: dict[str, object] = {
        "username": "ivy@example.com",
        "email": "ivy@example.com",
        "email_verified": True,
        "name": "Ivy",
    }
    base.update(values)
    return Identity(connector_id=connector, subject=subject, **base)  # type: ignore[arg-type]


def linker(storage: Storage, **authorizer: object) -> IdentityLinker:
    return IdentityLinker(storage, AuthorizerSettings(**authorizer), ScimSettings())  # type: ignore[arg-type]


def provision(storage: Storage, username: str, *, source: str = "okta", **extra: object) -> str:
    service = scim_service(storage, ScimSettings(), source=source, base_url="http://t")
    body = {"schemas": [USER], "userName": username, **extra}
    return str(service.create_user(body, actor="okta:provisioner")["id"])


def test_scim_deactivated_user_cannot_get_a_fresh_account_by_logging_in(
    storage: Storage,
) -> None:
    """Okta/Entra deactivate over SCIM (active=false) when someone leaves or is unassigned;
    the IdP may still authenticate them (assignment not required, a second app). The
    provisioned account is found by its verified username, and must then be refused as
    disabled, not bypassed by creating `okta:<subject>` with the same email."""
    uid = provision(storage, "ivy@example.com", active=False)
    with pytest.raises(SignInRefused):
        linker(storage).sign_in(ident(), SignupPolicy())
    assert storage.users.count() == 1, "a second (active) account was created"
    assert storage.users.by_identity("okta", "00u-ivy") is None
    assert storage.users.get(uid) is not None


def test_active_scim_user_is_attached_not_duplicated(storage: Storage) -> None:
    uid = provision(storage, "ivy@example.com")
    user = linker(storage).sign_in(ident(), SignupPolicy())
    assert user.id == uid and storage.users.count() == 1


def test_scim_user_deactivated_after_linking_is_refused(storage: Storage) -> None:
    uid = provision(storage, "ivy@example.com")
    linker(storage).sign_in(ident(), SignupPolicy())
    storage.users.set_active(uid, False)
    with pytest.raises(SignInRefused):
        linker(storage).sign_in(ident(), SignupPolicy())
    assert storage.users.count() == 1


def test_another_idp_cannot_claim_a_scim_account_by_its_verified_email(storage: Storage) -> None:
    uid = provision(storage, "ivy@example.com")
    other = linker(storage).sign_in(ident("google", "g-1"), SignupPolicy())
    assert other.id != uid
    assert storage.users.by_identity("okta", "00u-ivy") is None


def test_unverified_email_never_attaches_to_a_scim_account(storage: Storage) -> None:
    uid = provision(storage, "ivy@example.com")
    user = linker(storage).sign_in(ident(email_verified=False, username="x"), SignupPolicy())
    assert user.id != uid


@pytest.mark.parametrize(
    "claimed",
    [
        {"email": "ceo@example.com", "email_verified": False, "username": "ceo@example.com"},
        {"email": None, "email_verified": False, "username": "ceo@example.com"},
    ],
    ids=["unverified-email", "chosen-preferred-username-no-email"],
)
def test_idp_login_cannot_take_an_email_shaped_username_it_did_not_prove(
    storage: Storage, claimed: dict[str, object]
) -> None:
    """OIDC connectors fall back to the (unverified) email, and use preferred_username as
    typed (Auth0/Cognito let users pick it). The account's username then becomes
    `ceo@example.com`: the platform's tokens carry it as preferred_username, the real owner
    can no longer sign up locally or through another IdP under that name, and the one-time
    setup link cannot create an initial admin listed by that address."""
    attacker = linker(storage).sign_in(ident("auth0", "auth0|eve", **claimed), SignupPolicy())
    assert attacker.username.casefold() != "ceo@example.com"


def test_verified_email_wins_over_a_chosen_preferred_username(storage: Storage) -> None:
    user = linker(storage).sign_in(
        ident("auth0", "auth0|eve", email="eve@evil.example", username="ceo@example.com"),
        SignupPolicy(),
    )
    assert user.username == "eve@evil.example"


def test_local_account_with_the_same_email_is_never_joined(storage: Storage) -> None:
    """An attacker pre-registers the victim's address locally (unverified); the victim's
    IdP login must not land in the attacker's account, nor the reverse."""
    squatter = storage.users.create(username="ivy@example.com", email="ivy@example.com")
    user = linker(storage).sign_in(ident(), SignupPolicy())
    assert user.id != squatter.id
    assert user.username != squatter.username


def test_case_variants_of_a_subject_are_different_people(storage: Storage) -> None:
    """OIDC Core §5.7: `sub` is case-sensitive; folding it would merge two people."""
    a = linker(storage).sign_in(ident(subject="AbC", email=None), SignupPolicy())
    b = linker(storage).sign_in(ident(subject="abc", email=None), SignupPolicy())
    assert a.id != b.id


@pytest.mark.parametrize(
    "email",
    ["\uff41dmin@example.com", "\u0430dmin@example.com", "admin@example.com\u200b"],
    ids=["fullwidth", "cyrillic-a", "zero-width"],
)
def test_confusable_verified_emails_do_not_match_initial_admins(
    storage: Storage, email: str
) -> None:
    user = linker(storage, initial_admins=["admin@example.com"]).sign_in(
        ident("custom", "c-1", email=email, username=email), SignupPolicy()
    )
    assert system_roles(storage, user.id) == ["viewer"]


def test_unverified_email_never_matches_initial_admins(storage: Storage) -> None:
    user = linker(storage, initial_admins=["ivy@example.com"]).sign_in(
        ident(email_verified=False), SignupPolicy()
    )
    assert system_roles(storage, user.id) == ["viewer"]


def test_idp_groups_cannot_join_a_team_created_elsewhere(storage: Storage) -> None:
    first = linker(storage).sign_in(ident("okta", "1", groups=("admins",)), SignupPolicy())
    second = linker(storage).sign_in(
        ident("github", "2", email="m@example.com", groups=("Admins",)), SignupPolicy()
    )
    # Each connector's "admins" is its own team (issue 12): same name, distinct ids.
    (mine,) = storage.teams.teams_of(first.id)
    (theirs,) = storage.teams.teams_of(second.id)
    assert (mine.managed_by, theirs.managed_by) == ("idp:okta", "idp:github")
    assert mine.id != theirs.id


@pytest.mark.parametrize(
    "payload",
    ["' OR '1'='1", "x'); DROP TABLE users; --", '" OR ""="', "%", "_"],
)
def test_sql_metacharacters_in_identity_fields_are_data(storage: Storage, payload: str) -> None:
    user = linker(storage).sign_in(
        ident("custom", payload, email=None, username=payload, groups=(payload,)), SignupPolicy()
    )
    assert user.username == payload
    assert storage.users.by_identity("custom", "anything") is None
    assert storage.users.count() == 1


def test_first_idp_login_cannot_be_locked_out_by_squatted_usernames(storage: Storage) -> None:
    """The candidates are public or guessable: the verified email, preferred_username, and
    `okta:<sub>` (Okta subjects appear in every token the user shows to an API). A local
    sign-up takes the first; an IdP that lets users pick preferred_username (finding 2)
    takes the last."""
    storage.users.create(username="ivy@example.com", email="ivy@example.com")  # local sign-up
    linker(storage).sign_in(
        ident("auth0", "auth0|eve", email=None, email_verified=False, username="okta:00u-ivy"),
        SignupPolicy(),
    )
    user = linker(storage).sign_in(ident(), SignupPolicy())
    assert storage.users.by_identity("okta", "00u-ivy") is not None
    assert user.active
