"""Red team: an operator holding users.write but not roles.write (the `teamlead` role of the
console tests) must not turn that into an administrator's account. Two ways it could:

- a password-reset link (shown once without `smtp:`) for an account that holds roles: the
  operator sets the password and signs in as, say, an admin;
- resending an invitation an administrator made with role bindings (or into a team that
  gives roles): the new link comes back to the operator, who accepts it and holds the roles.

Both acts hand out a credential of whatever the target holds, so they need roles.write, as
changing such an account's email does (`PATCH /api/v1/users/{id}`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from authbridge.audit.events import Actor
from authbridge.directory.invitations import Grant
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api, mint_token, new_user
from tests.web.console.conftest import Console
from tests.web.console.test_teams import LEAD

SYSTEM = Actor("cli", "test")


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **LEAD))))


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    with started_clients() as start:
        yield Api(start(create_app(make_settings(sqlite_url, **LEAD))))


def _admin_with_password(ready: object, email: str) -> str:
    user = ready.accounts.sign_up(  # type: ignore[attr-defined]
        email=email, password="correct horse battery staple", name="Root", self_service=False
    )
    ready.bindings.grant("admin", user_id=user.id, origin="test")  # type: ignore[attr-defined]
    return str(user.id)


def test_console_reset_link_for_an_admin_needs_roles_write(console: Console) -> None:
    admin_id = _admin_with_password(console.ready, "root@example.com")
    path = f"/admin/users/{admin_id}/reset-password"
    answer = console.post(path, {"confirmed": "yes"}, role="teamlead")
    assert answer.status_code == 403, answer.text[:400]
    assert "/password/reset/" not in answer.text
    # A viewer-only account is still the teamlead's to reset; an admin may reset the admin.
    plain = console.ready.accounts.sign_up(
        email="plain@example.com", password="correct horse battery staple", self_service=False
    )
    ok = console.post(
        f"/admin/users/{plain.id}/reset-password", {"confirmed": "yes"}, role="teamlead"
    )
    assert ok.status_code == 200 and "/password/reset/" in ok.text
    assert "/password/reset/" in console.post(path, {"confirmed": "yes"}).text


def test_api_reset_link_for_an_admin_needs_roles_write(api: Api) -> None:
    admin_id = _admin_with_password(api.ready, "root@example.com")
    lead = mint_token(api.ready, new_user(api.ready, "teamlead"))
    answer = api.post(
        f"/api/v1/users/{admin_id}/password-reset",
        role=None,
        headers={"authorization": f"Bearer {lead}"},
    )
    assert answer.status_code == 403, answer.text
    assert "/password/reset/" not in answer.text
    assert api.post(f"/api/v1/users/{admin_id}/password-reset").status_code == 200


def _admin_invitation(ready: object) -> str:
    view = ready.admin.invitations.create(  # type: ignore[attr-defined]
        SYSTEM, "newboss@example.com", teams=[], grants=[Grant("admin", "system")]
    )
    return str(view.invitation.id)


def test_console_resending_an_invitation_with_roles_needs_roles_write(console: Console) -> None:
    invitation_id = _admin_invitation(console.ready)
    answer = console.post(f"/admin/invitations/{invitation_id}/resend", role="teamlead")
    assert answer.status_code == 403, answer.text[:400]
    assert not re.search(r"/invite/[A-Za-z0-9_-]{20,}", answer.text)
    again = console.post(f"/admin/invitations/{invitation_id}/resend")
    assert again.status_code == 200 and "/invite/" in again.text


def test_api_resending_an_invitation_with_roles_needs_roles_write(api: Api) -> None:
    invitation_id = _admin_invitation(api.ready)
    lead = mint_token(api.ready, new_user(api.ready, "teamlead"))
    answer = api.post(
        f"/api/v1/invitations/{invitation_id}/resend",
        role=None,
        headers={"authorization": f"Bearer {lead}"},
    )
    assert answer.status_code == 403, answer.text
    ok = api.post(f"/api/v1/invitations/{invitation_id}/resend")
    assert ok.status_code == 200 and ok.json()["link"]


def test_api_mfa_reset_of_an_admin_needs_roles_write(api: Api) -> None:
    """Removing an admin's second factor leaves the admin role behind the password alone."""
    admin_id = _admin_with_password(api.ready, "root@example.com")
    lead = mint_token(api.ready, new_user(api.ready, "teamlead"))
    answer = api.post(
        f"/api/v1/users/{admin_id}/mfa/reset",
        role=None,
        headers={"authorization": f"Bearer {lead}"},
    )
    assert answer.status_code == 403, answer.text
    plain = new_user(api.ready, "viewer")
    mine = api.post(
        f"/api/v1/users/{plain}/mfa/reset", role=None, headers={"authorization": f"Bearer {lead}"}
    )
    assert mine.status_code == 200, mine.text
    assert api.post(f"/api/v1/users/{admin_id}/mfa/reset").status_code == 200
