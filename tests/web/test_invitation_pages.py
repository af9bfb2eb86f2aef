"""Invitations end to end: the admin API invites, a real SMTP server on loopback receives
the mail, the invited person accepts through local sign-up; the link works once; resend
voids the old link; revoke ends it; without SMTP the link is returned once instead."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from authbridge.web.services import Ready
from tests.conftest import make_settings, started_clients
from tests.mailserver import MailServer, mail_server
from tests.web.api.conftest import Api, assert_problem
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


@pytest.fixture
def mailing(sqlite_url: str, smtp: MailServer) -> Iterator[Api]:
    with started_clients() as start:
        yield Api(start(create(sqlite_url, **smtp.env())))


@pytest.fixture
def plain(sqlite_url: str) -> Iterator[Api]:
    with started_clients() as start:
        yield Api(start(create(sqlite_url)))


def create(url: str, **env: str):
    from authbridge.web.app import create_app

    return create_app(make_settings(url, **env))


def path(link: str) -> str:
    return urlsplit(link).path


def flush(ready: Ready) -> None:
    assert ready.mailer is not None and ready.mailer.flush()


INVITE = {"email": "Grace@Example.COM", "teams": ["data-eng"], "roleBindings": [{"role": "editor"}]}


def accept(client: TestClient, link: str, password: str = PASSWORD):
    page = client.get(path(link))
    assert page.status_code == 200, page.text
    return client.post(
        path(link),
        data={"csrf_token": csrf(page.text), "name": "Grace", "password": password},
        follow_redirects=False,
    )


def test_invite_is_mailed_and_accepted_through_local_signup(mailing: Api, smtp: MailServer) -> None:
    created = mailing.post("/api/v1/invitations", json=INVITE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["link"] is None and body["emailed"] is True
    assert body["email"] == "Grace@example.com" and body["status"] == "pending"
    assert created.headers["location"] == f"/api/v1/invitations/{body['id']}"
    flush(mailing.ready)
    (message,) = smtp.inbox.wait()
    assert message["To"] == "Grace@example.com"
    link = smtp.inbox.link()
    assert link.startswith("http://localhost:8080/invite/")

    page = mailing.client.get(path(link))
    assert "Grace@example.com" in page.text and "At least 8 characters" in page.text
    answer = accept(mailing.client, link)
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
    user = mailing.ready.storage.users.by_username("Grace@example.com")
    assert user is not None and user.email_verified  # the link was mailed to it
    assert [t.name for t in mailing.ready.membership.teams_of(user.id)] == ["data-eng"]
    assert "editor" in mailing.ready.bindings.effective_roles(user.id).system
    (binding,) = [b for b in mailing.ready.bindings.find(user_id=user.id) if b.role == "editor"]
    assert binding.origin == f"invitation:{body['id']}"
    status = mailing.get(f"/api/v1/invitations/{body['id']}").json()
    assert status["status"] == "accepted" and status["acceptedBy"] == user.id

    # One use: the link is dead now, for a page view and for a second sign-up.
    fresh = TestClient(mailing.client.app, base_url="http://localhost:8080")
    assert fresh.get(path(link)).status_code == 404


def test_without_smtp_the_link_is_returned_once(plain: Api) -> None:
    created = plain.post("/api/v1/invitations", json={"email": "lin@example.com"})
    assert created.status_code == 201
    body = created.json()
    assert body["emailed"] is False and body["link"].startswith("http://localhost:8080/invite/")
    listed = plain.get("/api/v1/invitations").json()
    assert [i["id"] for i in listed["items"]] == [body["id"]]
    assert listed["items"][0]["link"] is None  # never shown again
    fetched = plain.get(f"/api/v1/invitations/{body['id']}").json()
    assert fetched["link"] is None
    # Only the digest is stored.
    row = plain.ready.storage.invitations.get(body["id"])
    assert row is not None and path(body["link"]).rpartition("/")[2] not in row.token_hash


def test_resend_voids_the_old_link_and_revoke_ends_it(plain: Api) -> None:
    body = plain.post("/api/v1/invitations", json={"email": "max@example.com"}).json()
    resent = plain.post(f"/api/v1/invitations/{body['id']}/resend")
    assert resent.status_code == 200
    new_link = resent.json()["link"]
    assert new_link != body["link"]
    assert plain.client.get(path(body["link"])).status_code == 404
    assert plain.client.get(path(new_link)).status_code == 200
    assert plain.delete(f"/api/v1/invitations/{body['id']}").status_code == 204
    assert plain.client.get(path(new_link)).status_code == 404
    assert plain.get(f"/api/v1/invitations/{body['id']}").json()["status"] == "revoked"
    # Ended invitations cannot be revoked or resent again.
    assert_problem(plain.delete(f"/api/v1/invitations/{body['id']}"), 404, "not-found")
    assert_problem(plain.post(f"/api/v1/invitations/{body['id']}/resend"), 404, "not-found")


def test_an_accepted_link_cannot_be_used_twice_even_for_another_password(plain: Api) -> None:
    link = plain.post("/api/v1/invitations", json={"email": "ann@example.com"}).json()["link"]
    page = plain.client.get(path(link))
    token = csrf(page.text)
    first = plain.client.post(
        path(link), data={"csrf_token": token, "password": PASSWORD}, follow_redirects=False
    )
    assert first.status_code == 303
    other = TestClient(plain.client.app, base_url="http://localhost:8080")
    assert other.post(path(link), data={"password": "another good passphrase"}).status_code in (
        403,
        404,
    )
    assert plain.ready.storage.users.by_username("ann@example.com") is not None


def test_a_refused_password_keeps_the_link_usable(plain: Api) -> None:
    link = plain.post("/api/v1/invitations", json={"email": "bo@example.com"}).json()["link"]
    refused = accept(plain.client, link, password="short")
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text
    assert accept(plain.client, link).status_code == 303


def test_invitations_admit_people_when_local_signup_is_off(sqlite_url: str) -> None:
    with started_clients() as start:
        api = Api(start(create(sqlite_url, AUTH__LOCAL__ALLOW_SIGNUP="false")))
        assert api.client.get("/signup").status_code == 404
        link = api.post("/api/v1/invitations", json={"email": "zoe@example.com"}).json()["link"]
        assert accept(api.client, link).status_code == 303


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "roleBindings": [{"role": "nope"}]}, "roleBindings[0].role"),
        (
            {"email": "a@example.com", "roleBindings": [{"role": "viewer", "scope": "bad scope"}]},
            "roleBindings[0].scope",
        ),
    ],
)
def test_bad_invitations_are_refused_by_field(plain: Api, payload: dict, field: str) -> None:
    problem = assert_problem(plain.post("/api/v1/invitations", json=payload), 400)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_listing_pages_with_a_cursor(plain: Api) -> None:
    ids = [
        plain.post("/api/v1/invitations", json={"email": f"p{i}@example.com"}).json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = plain.get(f"/api/v1/invitations{query}").json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    # Newest first; never a row twice or skipped (keyset pages).
    assert len(seen) == len(set(seen)) and sorted(seen) == sorted(ids)
    assert seen[0] == ids[-1]


def test_viewers_cannot_invite(plain: Api) -> None:
    assert_problem(
        plain.post("/api/v1/invitations", json={"email": "x@example.com"}, role="viewer"), 403
    )


def test_the_list_filters_by_status(plain: Api) -> None:
    kept = plain.post("/api/v1/invitations", json={"email": "kept@example.com"}).json()
    ended = plain.post("/api/v1/invitations", json={"email": "ended@example.com"}).json()
    assert plain.delete(f"/api/v1/invitations/{ended['id']}").status_code == 204
    pending = plain.get("/api/v1/invitations", params={"status": "pending"}).json()["items"]
    assert [i["id"] for i in pending] == [kept["id"]]
    revoked = plain.get("/api/v1/invitations", params={"status": "revoked"}).json()["items"]
    assert [(i["id"], i["status"]) for i in revoked] == [(ended["id"], "revoked")]
    assert_problem(plain.get("/api/v1/invitations", params={"status": "gone"}), 400)


def _browser(api: Api) -> TestClient:
    return TestClient(api.client.app, base_url="http://localhost:8080")


def test_an_existing_account_signs_in_then_accepts(plain: Api) -> None:
    """Astronomer's flow for people who already have an account: the link leads to sign-in
    (with its throttle and second factor) and back; accepting gives the invitation's teams
    and roles to that account, once."""
    owner = _browser(plain)
    assert sign_up(owner, email="sam@example.com").status_code == 303
    owner.cookies.clear()
    created = plain.post(
        "/api/v1/invitations",
        json={"email": "Sam@Example.com", "teams": ["Data"], "roleBindings": [{"role": "editor"}]},
    )
    assert created.status_code == 201, created.text
    link = path(created.json()["link"])
    page = owner.get(link).text
    assert 'id="sign-in-to-accept"' in page and 'name="password"' not in page
    assert f"/login?next={quote(link, safe='')}" in page
    assert sign_in(owner, email="sam@example.com").status_code == 303
    page = owner.get(link).text
    assert 'id="accept"' in page
    accepted = owner.post(link + "/accept", data={"csrf_token": csrf(page)}, follow_redirects=False)
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/account?notice=invitation-accepted"
    sam = plain.ready.storage.users.by_username("sam@example.com")
    assert sam is not None and "Data" in plain.ready.storage.users.teams(sam.id)
    assert plain.ready.bindings.allows(sam.id, "resources.write")  # editor
    assert plain.ready.invitations.peek(link.rpartition("/")[2]) is None  # used
    again = owner.post(link + "/accept", data={"csrf_token": csrf(page)})
    assert again.status_code == 404


def test_another_account_cannot_accept_someone_elses_invitation(plain: Api) -> None:
    mallory = _browser(plain)
    assert sign_up(mallory, email="mallory@example.com").status_code == 303
    link = path(plain.post("/api/v1/invitations", json={"email": "vic@example.com"}).json()["link"])
    page = mallory.get(link).text
    assert 'id="accept"' not in page
    refused = mallory.post(link + "/accept", data={"csrf_token": csrf(page)})
    assert refused.status_code == 403 and "vic@example.com" in refused.text
    assert plain.ready.invitations.peek(link.rpartition("/")[2]) is not None  # still usable
    forged = mallory.post(link + "/accept", data={}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token
    stranger = _browser(plain)
    token = csrf(stranger.get(link).text)
    anonymous = stranger.post(link + "/accept", data={"csrf_token": token}, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next={quote(link, safe='')}"
    assert plain.ready.invitations.peek(link.rpartition("/")[2]) is not None
