"""Accounts from IdP logins, on every storage backend: keys, domains, admins, teams."""

from __future__ import annotations

import pytest

from authbridge.config.model import AuthorizerSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.identities import IdentityLinker, SignInRefused
from authbridge.storage import Storage
from authbridge.storage.models import Identity as IdentityRow
from authbridge.storage.models import Team
from tests.wiring import system_roles


def ident(connector: str = "okta", subject: str = "00u1", **values: object) -> Identity:
    base: dict[str, object] = {
        "username": "ada",
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada",
    }
    base.update(values)
    return Identity(connector_id=connector, subject=subject, **base)  # type: ignore[arg-type]


def linker(storage: Storage, **authorizer: object) -> IdentityLinker:
    return IdentityLinker(storage, AuthorizerSettings(**authorizer))  # type: ignore[arg-type]


def test_first_login_creates_then_finds_by_connector_and_subject(storage: Storage) -> None:
    link = linker(storage)
    user = link.sign_in(ident(), SignupPolicy())
    assert user.username == "ada@example.com" and user.password_hash is None
    again = link.sign_in(ident(email="changed@example.com"), SignupPolicy())
    assert again.id == user.id
    assert system_roles(storage, user.id) == ["viewer"]


def test_same_email_from_another_idp_is_another_account(storage: Storage) -> None:
    link = linker(storage)
    first = link.sign_in(ident("okta", "00u1"), SignupPolicy())
    second = link.sign_in(ident("github", "583231"), SignupPolicy())
    assert first.id != second.id
    assert second.username != first.username  # the email was taken: not merged
    assert storage.users.count() == 2


def test_same_subject_at_two_connectors_is_two_people(storage: Storage) -> None:
    link = linker(storage)
    a = link.sign_in(ident("okta", "123", email=None), SignupPolicy())
    b = link.sign_in(ident("github", "123", email=None, username="ada"), SignupPolicy())
    assert a.id != b.id


def test_signup_off_refuses_and_creates_nothing(storage: Storage) -> None:
    with pytest.raises(SignInRefused):
        linker(storage).sign_in(ident(), SignupPolicy(allow_signup=False))
    assert storage.users.count() == 0


def test_principal_domain_needs_a_verified_address(storage: Storage) -> None:
    link = linker(storage, principal_domain="example.com")
    with pytest.raises(SignInRefused):
        link.sign_in(ident(email_verified=False), SignupPolicy())
    with pytest.raises(SignInRefused):
        link.sign_in(ident(subject="2", email="eve@evil.example"), SignupPolicy())
    assert link.sign_in(ident(subject="3"), SignupPolicy()).email == "ada@example.com"


def test_allowed_domains_of_a_connector(storage: Storage) -> None:
    link = linker(storage)
    policy = SignupPolicy(allowed_domains=("corp.example",))
    with pytest.raises(SignInRefused):
        link.sign_in(ident(), policy)
    assert link.sign_in(ident(email="ada@corp.example"), policy)


def test_initial_admins_only_with_verified_email(storage: Storage) -> None:
    link = linker(storage, initial_admins=["ada@example.com"])
    unverified = link.sign_in(ident(subject="u", email_verified=False), SignupPolicy())
    assert system_roles(storage, unverified.id) == ["viewer"]
    verified = link.sign_in(ident(connector="google", subject="v"), SignupPolicy())
    assert system_roles(storage, verified.id) == ["admin"]


def test_teams_follow_the_idp_groups_at_every_login(storage: Storage) -> None:
    link = linker(storage)
    user = link.sign_in(ident(groups=("eng", "data")), SignupPolicy())
    assert storage.users.teams(user.id) == ["data", "eng"]
    link.sign_in(ident(groups=("eng", "ops")), SignupPolicy())
    assert storage.users.teams(user.id) == ["eng", "ops"]
    link.sign_in(ident(groups=()), SignupPolicy())
    assert storage.users.teams(user.id) == []


def test_an_idp_cannot_put_people_in_teams_it_does_not_own(storage: Storage) -> None:
    with storage.db.session() as session:
        session.add(Team(id="t-admins", name="platform-admins", name_key="platform-admins"))
    user = linker(storage).sign_in(ident(groups=("platform-admins", "eng")), SignupPolicy())
    # The login's "platform-admins" is the connector's own team (issue 12: distinct ids,
    # never a collision): the admins' team t-admins stays out of its reach.
    teams = {(t.name, t.managed_by): t.id for t in storage.teams.teams_of(user.id)}
    assert set(teams) == {("eng", "idp:okta"), ("platform-admins", "idp:okta")}
    assert "t-admins" not in teams.values()


def test_disabled_account_is_refused(storage: Storage) -> None:
    link = linker(storage)
    user = link.sign_in(ident(), SignupPolicy())
    storage.users.set_active(user.id, False)
    with pytest.raises(SignInRefused, match="disabled"):
        link.sign_in(ident(), SignupPolicy())


def test_the_link_keeps_the_last_email_seen(storage: Storage) -> None:
    link = linker(storage)
    link.sign_in(ident(), SignupPolicy())
    link.sign_in(ident(email="new@example.com"), SignupPolicy())
    with storage.db.session() as session:
        row = session.query(IdentityRow).one()
        assert row.email == "new@example.com" and row.last_login_at is not None


# -- usernames: only what the IdP proved, never locked out (OIDC Core §5.7) -------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # GitHub: the login is unique at the IdP and never email-shaped.
        ({"username": "octocat", "email": None, "email_verified": False}, "octocat"),
        # An unverified address never becomes the name, a plain preferred_username may.
        ({"username": "ada", "email_verified": False}, "ada"),
        ({"username": "ada@example.com", "email_verified": False}, "okta:ada@example.com"),
        ({"username": "boss@example.com"}, "ada@example.com"),
        # Another connector's namespace, also through lookalike characters (NFKC).
        ({"username": "github:583231", "email": None}, "okta:github:583231"),
        ({"username": "github\uff1a583231", "email": None}, "okta:github\uff1a583231"),
        ({"username": "ceo\uff20example.com", "email": None}, "okta:ceo\uff20example.com"),
        ({"username": "", "email": None}, "okta:00u1"),
    ],
)
def test_a_new_account_is_named_only_by_what_the_idp_proved(
    storage: Storage, values: dict[str, object], expected: str
) -> None:
    assert linker(storage).sign_in(ident(**values), SignupPolicy()).username == expected


def test_a_verified_email_in_a_namespace_stays_in_the_connectors_own(storage: Storage) -> None:
    user = linker(storage).sign_in(
        ident(username="x@example.com", email="github:1@example.com"), SignupPolicy()
    )
    assert user.username == "okta:github:1@example.com"


def test_every_guessable_name_squatted_still_creates_the_account(storage: Storage) -> None:
    for taken in ("ada@example.com", "ada", "okta:00u1"):
        storage.users.create(username=taken, email=None)
    link = linker(storage)
    user = link.sign_in(ident(), SignupPolicy())
    assert user.username.startswith("okta:00u1~") and len(user.username) == len("okta:00u1~") + 12
    assert link.sign_in(ident(), SignupPolicy()).id == user.id  # found by its key next time
    assert storage.users.count() == 4


def test_a_very_long_subject_still_gets_a_name_within_the_column(storage: Storage) -> None:
    subject = "s" * 255
    storage.users.create(username=f"okta:{subject}", email=None)
    user = linker(storage).sign_in(ident(subject=subject, email=None, username=""), SignupPolicy())
    assert len(user.username) <= 320 and "~" in user.username
