"""Password reset and email verification by mail, against a real SMTP server on loopback:
the forgot form answers the same for any address; the link works once, lapses, and
resetting ends every session and refresh token; local sign-ups verify their address."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from authbridge.clock import utcnow
from authbridge.directory.email_links import RESET_PREFIX, _name
from authbridge.web.services import Ready
from tests.mailserver import MailServer, mail_server
from tests.web.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


@pytest.fixture
def app(app_factory: AppFactory, smtp: MailServer) -> TestClient:
    return app_factory(**smtp.env())


def ready(client: TestClient) -> Ready:
    result: Ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    return result


def flush(client: TestClient) -> None:
    mailer = ready(client).mailer
    assert mailer is not None and mailer.flush()


def forgot(client: TestClient, email: str):
    page = client.get("/password/forgot")
    assert page.status_code == 200
    return client.post("/password/forgot", data={"email": email, "csrf_token": csrf(page.text)})


def path(link: str) -> str:
    return urlsplit(link).path


def reset_link(app: TestClient, smtp: MailServer, email: str = "ada@example.com") -> str:
    before = len(smtp.inbox.messages)
    assert forgot(app, email).status_code == 200
    flush(app)
    smtp.inbox.wait(before + 1)
    return path(smtp.inbox.link())


def set_password(client: TestClient, link: str, password: str = NEW_PASSWORD):
    page = client.get(link)
    assert page.status_code == 200, page.text
    return client.post(link, data={"new_password": password, "csrf_token": csrf(page.text)})


def test_login_page_links_to_reset_only_with_smtp(app: TestClient, client: TestClient) -> None:
    assert 'href="/password/forgot"' in app.get("/login").text
    assert 'href="/password/forgot"' not in client.get("/login").text
    assert client.get("/password/forgot").status_code == 404


def test_reset_sets_the_password_once_and_ends_every_session(
    app: TestClient, smtp: MailServer, app_factory: AppFactory
) -> None:
    assert sign_up(app).status_code == 303
    flush(app)  # the verification mail
    # Another browser signed in with the old password: its session must end.
    other = TestClient(app.app, base_url="http://localhost:8080")
    assert sign_in(other).status_code == 303
    assert other.get("/account", follow_redirects=False).status_code == 200

    link = reset_link(app, smtp)
    page = app.get(link)
    assert "At least 8 characters" in page.text and "ada@example.com" in page.text
    done = set_password(app, link)
    assert done.status_code == 200 and "Password changed" in done.text

    assert other.get("/account", follow_redirects=False).status_code == 303
    assert sign_in(other).status_code == 401
    assert sign_in(other, password=NEW_PASSWORD).status_code == 303
    # Single use.
    assert app.get(link).status_code == 404
    again = app.post(link, data={"new_password": "yet another passphrase"})
    assert again.status_code in (403, 404)


def test_a_password_change_voids_every_other_link(app: TestClient, smtp: MailServer) -> None:
    sign_up(app)
    older = reset_link(app, smtp)
    newer = reset_link(app, smtp)
    assert set_password(app, newer).status_code == 200
    assert app.get(older).status_code == 404


def test_a_refused_password_keeps_the_link(app: TestClient, smtp: MailServer) -> None:
    sign_up(app)
    link = reset_link(app, smtp)
    refused = set_password(app, link, "short")
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text
    assert set_password(app, link).status_code == 200


def test_an_expired_link_is_refused(app: TestClient, smtp: MailServer) -> None:
    sign_up(app)
    link = reset_link(app, smtp)
    token = link.rpartition("/")[2]
    name = _name(RESET_PREFIX, token)
    assert name is not None and len(name) <= 64  # key_values.name is VARCHAR(64)
    values = ready(app).storage.values
    value = values.get(name)
    assert value is not None
    values.put(name, value, expires_at=utcnow() - timedelta(seconds=1))
    assert app.get(link).status_code == 404
    assert sign_in(app, password=PASSWORD).status_code == 303  # unchanged


def test_the_answer_is_the_same_for_unknown_addresses(app: TestClient, smtp: MailServer) -> None:
    sign_up(app)
    flush(app)
    sent_before = len(smtp.inbox.messages)
    known = forgot(app, "ada@example.com")
    unknown = forgot(app, "nobody@example.com")
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)
    flush(app)
    assert len(smtp.inbox.wait(sent_before + 1)) == sent_before + 1
    time.sleep(0.2)
    assert len(smtp.inbox.messages) == sent_before + 1  # nothing for the unknown address


def test_the_answer_does_not_wait_for_the_lookup(app: TestClient) -> None:
    """The request returns before the mail thread has done anything: a job blocking it
    does not hold the answer."""
    import threading

    gate = threading.Event()
    mailer = ready(app).mailer
    assert mailer is not None
    mailer.submit(gate.wait)
    started = time.monotonic()
    assert forgot(app, "ada@example.com").status_code == 200
    assert time.monotonic() - started < 2
    gate.set()


def test_accounts_without_a_password_get_no_link(app: TestClient, smtp: MailServer) -> None:
    storage = ready(app).storage
    storage.users.create(username="idp@example.com", email="idp@example.com", roles=[])
    forgot(app, "idp@example.com")
    flush(app)
    time.sleep(0.1)
    assert smtp.inbox.messages == []


def test_requests_are_throttled_per_address(app: TestClient) -> None:
    statuses = [forgot(app, "victim@example.com").status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]


def test_local_signup_verifies_its_email(app: TestClient, smtp: MailServer) -> None:
    assert sign_up(app).status_code == 303
    user = ready(app).storage.users.by_username("ada@example.com")
    assert user is not None and not user.email_verified
    token = re.search(r'<textarea id="token"[^>]*>([\w.-]+)</textarea>', app.get("/account").text)
    assert token is not None
    claims = ready(app).provider.access_claims(token.group(1))
    assert claims is not None and claims.get("email_verified") is False
    flush(app)
    (message,) = smtp.inbox.wait()
    assert "Confirm" in message["Subject"]
    link = path(smtp.inbox.link())
    assert app.get(link).status_code == 200
    user = ready(app).storage.users.by_username("ada@example.com")
    assert user is not None and user.email_verified
    assert app.get(link).status_code == 404  # once


def test_a_lost_confirmation_link_can_be_sent_again(app: TestClient, smtp: MailServer) -> None:
    assert sign_up(app).status_code == 303
    flush(app)
    smtp.inbox.wait(1)
    page = app.get("/account").text
    assert "(not confirmed)" in page and 'id="resend-verification"' in page
    sent = app.post(
        "/account/email/verify", data={"csrf_token": csrf(page)}, follow_redirects=False
    )
    assert sent.headers["location"] == "/account?notice=verification-sent"
    flush(app)
    smtp.inbox.wait(2)
    assert app.get(path(smtp.inbox.link())).status_code == 200
    page = app.get("/account").text
    assert "(not confirmed)" not in page and 'id="resend-verification"' not in page
    # Confirmed: nothing more is mailed.
    app.post("/account/email/verify", data={"csrf_token": csrf(page)})
    flush(app)
    time.sleep(0.1)
    assert len(smtp.inbox.messages) == 2


def test_resending_the_confirmation_needs_the_form_and_is_throttled(
    app: TestClient, smtp: MailServer
) -> None:
    assert sign_up(app).status_code == 303
    assert app.post("/account/email/verify", data={}).status_code == 403  # no CSRF token
    token = csrf(app.get("/account").text)
    answers = [
        app.post("/account/email/verify", data={"csrf_token": token}, follow_redirects=False)
        for _ in range(7)
    ]
    notices = [a.headers["location"].rpartition("=")[2] for a in answers]
    assert notices[:5] == ["verification-sent"] * 5
    assert notices[5:] == ["verification-throttled"] * 2
