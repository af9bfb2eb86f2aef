"""The identity linker and invitations, on every backend: a verified email admits and gets
the invitation's teams and roles, an unverified one never; invite-only and sign-up off admit
only the invited; the dry run says why."""

from __future__ import annotations

import pytest

from authbridge.config.model import AuthorizerSettings, ScimSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.identities import IdentityLinker, SignInRefused
from authbridge.directory.invitations import Grant, Invitations
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.roles import RoleBindings, RoleResolver
from authbridge.storage import Storage

INVITE_ONLY = SignupPolicy(invite_only=True)
CLOSED = SignupPolicy(allow_signup=False)


def parts(storage: Storage) -> tuple[IdentityLinker, Invitations, RoleBindings]:
    membership = MembershipEngine(storage)
    bindings = RoleBindings(storage, RoleResolver.builtin())
    invitations = Invitations(
        storage, membership=membership, bindings=bindings, accounts=None, base_url="https://a"
    )
    linker = IdentityLinker(storage, AuthorizerSettings(), ScimSettings(), membership, invitations)
    return linker, invitations, bindings


def who(email: str, verified: bool = True) -> Identity:
    return Identity("corp", email.split("@")[0], email, email=email, email_verified=verified)


@pytest.mark.parametrize("policy", [INVITE_ONLY, CLOSED, SignupPolicy()])
def test_an_invited_verified_email_is_admitted_with_teams_and_roles(
    storage: Storage, policy: SignupPolicy
) -> None:
    linker, invitations, bindings = parts(storage)
    invitations.create("ada@example.com", teams=["eng"], grants=[Grant("editor", "workspace:w")])
    assert linker.preview(who("ada@example.com"), policy) == (None, "creates a new account")
    user = linker.sign_in(who("ada@example.com"), policy)
    assert [t.name for t in storage.teams.teams_of(user.id)] == ["eng"]
    assert "editor" in bindings.effective_roles(user.id).scoped["workspace:w"]
    assert not invitations.invited("ada@example.com")  # accepted, once


@pytest.mark.parametrize("policy", [INVITE_ONLY, CLOSED])
def test_an_unverified_email_is_never_admitted(storage: Storage, policy: SignupPolicy) -> None:
    linker, invitations, _ = parts(storage)
    invitations.create("bob@example.com")
    with pytest.raises(SignInRefused):
        linker.sign_in(who("bob@example.com", verified=False), policy)
    assert invitations.invited("bob@example.com")  # still pending
    assert storage.users.by_username("bob@example.com") is None


def test_an_unverified_login_never_accepts_an_open_invitation(storage: Storage) -> None:
    linker, invitations, bindings = parts(storage)
    invitations.create("eve@example.com", grants=[Grant("admin")])
    user = linker.sign_in(who("eve@example.com", verified=False), SignupPolicy())
    assert "admin" not in bindings.effective_roles(user.id).system
    assert invitations.invited("eve@example.com")


def test_the_dry_run_says_why(storage: Storage) -> None:
    linker, _, _ = parts(storage)
    assert linker.preview(who("x@example.com"), INVITE_ONLY)[1].startswith("refused: invite-only")
    assert linker.preview(who("x@example.com"), CLOSED)[1] == "refused: sign-up is off"


def test_an_expired_invitation_admits_no_one(storage: Storage) -> None:
    linker, invitations, _ = parts(storage)
    invitations.lifetime = -invitations.lifetime
    invitations.create("old@example.com")
    with pytest.raises(SignInRefused, match="invited"):
        linker.sign_in(who("old@example.com"), INVITE_ONLY)
