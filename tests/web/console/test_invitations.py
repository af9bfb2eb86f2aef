"""`/admin/invitations`: the list with each status, inviting (the link shown once without
SMTP, mailed with it), resending, revoking (confirmed); role bindings and teams that give
roles need roles.write, as in the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from authbridge.admin.paging import PageRequest
from authbridge.audit.events import Actor
from authbridge.audit.log import AuditLog
from authbridge.clock import utcnow
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.mailserver import MailServer, mail_server
from tests.web.console.conftest import Console, rows
from tests.web.console.test_teams import LEAD, cross_site
from tests.web.test_invitation_pages import accept

SYSTEM = Actor("cli", "test")
PATH = "/admin/invitations"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **LEAD))))


@pytest.fixture
def mailing(sqlite_url: str) -> Iterator[tuple[Console, MailServer]]:
    with mail_server() as smtp, started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **smtp.env())))), smtp


def _events(console: Console, kind: str) -> list[dict[str, object]]:
    audit = console.ready.audit
    assert isinstance(audit, AuditLog) and audit.flush()
    found = console.ready.admin.audit_events.query(type=kind).items
    return [dict(e.details) | {"target": e.target_name} for e in found]


def _link(html: str) -> str:
    match = re.search(r'<textarea id="secret"[^>]*>([^<]+)<', html)
    assert match, "no link shown"
    return match.group(1)


def _invitations(console: Console) -> list[tuple[str, str]]:
    found = console.ready.admin.invitations.list(PageRequest(200))
    return [(v.invitation.email, v.status) for v in found.items]


def test_empty_state_and_refused_to_a_viewer(console: Console) -> None:
    page = console.page(PATH)
    assert page.status_code == 200 and 'id="no-invitations"' in page.text
    assert "shown to you once" in page.text  # no smtp: here
    assert console.page(PATH, role="viewer").status_code == 403
    denied = console.post(PATH, {"email": "grace@example.com"}, role="viewer")
    assert denied.status_code == 403
    assert cross_site(console, PATH, {"email": "grace@example.com"}) == 403
    no_token = console.as_role("admin").post(PATH, data={"email": "g@example.com"})
    assert no_token.status_code == 403
    assert _invitations(console) == []


def test_invite_shows_the_link_once_without_smtp(console: Console) -> None:
    answer = console.post(
        PATH, {"email": "Grace@Example.COM", "teams": "data-eng\n\n", "bindings": "editor@ws:1"}
    )
    assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    link = _link(answer.text)
    assert "/invite/" in link
    assert _invitations(console) == [("Grace@example.com", "pending")]
    listed = console.page(PATH)
    assert link not in listed.text  # shown that once only
    assert rows(listed.text, "invitation-list")[0].startswith(
        "Grace@example.com pending data-eng editor at ws:1"
    )
    [event] = _events(console, "invitation.created")
    assert event["teams"] == ["data-eng"] and link not in str(event)
    # The link works once: accepted, it is listed so and no longer offers resend or revoke.
    invited = TestClient(console.client.app, base_url=str(console.client.base_url))
    assert accept(invited, link).status_code == 303
    assert _invitations(console) == [("Grace@example.com", "accepted")]
    after = console.page(PATH)
    assert rows(after.text, "invitation-list")[0].split()[:2] == ["Grace@example.com", "accepted"]
    assert "/resend" not in after.text


def test_a_malformed_invitation_is_shown_next_to_its_field(console: Console) -> None:
    answer = console.post(PATH, {"email": "not-an-email"})
    assert answer.status_code == 400 and 'id="email-error"' in answer.text
    assert 'value="not-an-email"' in answer.text and 'aria-invalid="true"' in answer.text
    bad_role = console.post(PATH, {"email": "g@example.com", "bindings": "nope"})
    assert bad_role.status_code == 400 and 'id="bindings-error"' in bad_role.text
    # The failing field, not the first one, is marked and takes the focus.
    assert re.search(r'<textarea id="i-bindings"[^>]*aria-invalid="true" autofocus', bad_role.text)
    assert not re.search(r'<input id="i-email"[^>]*(autofocus|aria-invalid)', bad_role.text)
    too_many = console.post(PATH, {"email": "g@example.com", "bindings": "editor a"})
    assert too_many.status_code == 400 and 'id="bindings-error"' in too_many.text
    assert _invitations(console) == []


def test_role_bindings_and_role_giving_teams_need_roles_write(console: Console) -> None:
    plain = console.post(PATH, {"email": "a@example.com", "teams": "crew"}, role="teamlead")
    assert plain.status_code == 201 and "/invite/" in _link(plain.text)
    bound = console.post(PATH, {"email": "b@example.com", "bindings": "viewer"}, role="teamlead")
    assert bound.status_code == 403 and "roles.write" in bound.text
    team = console.ready.admin.teams.create("admins", actor=SYSTEM)
    console.ready.admin.bindings.grant("admin", team_id=team.id, actor=SYSTEM)
    into = console.post(PATH, {"email": "c@example.com", "teams": "Admins"}, role="teamlead")
    assert into.status_code == 403 and "roles.write" in into.text
    assert _invitations(console) == [("a@example.com", "pending")]


def test_resend_gives_a_new_link_and_revoke_asks_first(console: Console) -> None:
    first = _link(console.post(PATH, {"email": "grace@example.com"}).text)
    [view] = console.ready.admin.invitations.list(PageRequest(200)).items
    invitation_id = view.invitation.id
    resent = console.post(f"{PATH}/{invitation_id}/resend")
    assert resent.status_code == 200
    second = _link(resent.text)
    assert second != first and "no longer works" in resent.text
    assert console.client.get(first.replace("http://localhost:8080", "")).status_code != 200
    assert len(_events(console, "invitation.resent")) == 1

    url = f"{PATH}/{invitation_id}/revoke"
    assert cross_site(console, url, {"confirmed": "yes"}) == 403
    asked = console.post(url)
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert _invitations(console) == [("grace@example.com", "pending")]
    revoked = console.post(url, {"confirmed": "yes"})
    assert revoked.status_code == 303 and revoked.headers["location"] == f"{PATH}?done=revoked"
    assert _invitations(console) == [("grace@example.com", "revoked")]
    assert _events(console, "invitation.revoked")[0]["target"] == "grace@example.com"
    listed = console.page(revoked.headers["location"])
    assert "The invitation was revoked" in listed.text
    assert f'action="{PATH}/{invitation_id}/resend"' not in listed.text
    # Nothing pending to act on any more: the service's refusal.
    assert console.post(url, {"confirmed": "yes"}).status_code == 404
    assert console.post(f"{PATH}/{invitation_id}/resend").status_code == 404
    assert console.post(f"{PATH}/nope/revoke").status_code == 404


def test_statuses_and_pages(console: Console) -> None:
    for name in ("a", "b", "c"):
        console.ready.admin.invitations.create(SYSTEM, f"{name}@example.com")
    storage = console.ready.storage
    [newest, *_] = console.ready.admin.invitations.list(PageRequest(200)).items
    storage.invitations.rekey(
        newest.invitation.id, "0" * 64, utcnow() - timedelta(minutes=1), False
    )
    first = console.page(f"{PATH}?limit=2")
    listed = rows(first.text, "invitation-list")
    assert [r.split()[:2] for r in listed] == [
        ["c@example.com", "expired"],
        ["b@example.com", "pending"],
    ]
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following and "limit=2" in following.group(1)
    rest = console.page(following.group(1).replace("&amp;", "&"))
    assert [r.split()[0] for r in rows(rest.text, "invitation-list")] == ["a@example.com"]
    assert console.page(f"{PATH}?cursor=bad!").status_code == 400

    # By status, the filter kept on the next page's link.
    expired = console.page(f"{PATH}?status=expired")
    assert [r.split()[0] for r in rows(expired.text, "invitation-list")] == ["c@example.com"]
    pending = console.page(f"{PATH}?status=pending&limit=1")
    assert [r.split()[0] for r in rows(pending.text, "invitation-list")] == ["b@example.com"]
    following = re.search(r'href="([^"]+)" rel="next"', pending.text)
    assert following and "status=pending" in following.group(1)
    rest = console.page(following.group(1).replace("&amp;", "&"))
    assert [r.split()[0] for r in rows(rest.text, "invitation-list")] == ["a@example.com"]
    none = console.page(f"{PATH}?status=accepted")
    assert 'id="no-invitations"' in none.text and "No accepted invitations." in none.text
    assert console.page(f"{PATH}?status=bogus").status_code == 400


def test_with_smtp_the_link_is_mailed_not_shown(mailing: tuple[Console, MailServer]) -> None:
    console, smtp = mailing
    assert "The link is mailed" in console.page(PATH).text
    answer = console.post(PATH, {"email": "grace@example.com"})
    assert answer.status_code == 303 and answer.headers["location"] == f"{PATH}?done=mailed"
    page = console.page(answer.headers["location"])
    assert "The invitation was mailed." in page.text and "/invite/" not in page.text
    mailer = console.ready.mailer
    assert mailer is not None and mailer.flush()
    # The operator's own sign-up may have mailed a verification first: the last is ours.
    message = smtp.inbox.wait()[-1]
    assert message["To"] == "grace@example.com" and "/invite/" in smtp.inbox.link()
    [view] = console.ready.admin.invitations.list(PageRequest(200)).items
    resent = console.post(f"{PATH}/{view.invitation.id}/resend")
    assert resent.headers["location"] == f"{PATH}?done=resent"
