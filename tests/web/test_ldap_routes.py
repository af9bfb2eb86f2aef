"""The login page's LDAP forms through the ASGI app, against a real OpenLDAP: sign-in makes
the account keyed by (connector, idAttr) and its teams from the directory's groups; CSRF,
throttling and audit as for the local form; a directory that is down fails only its form."""

from __future__ import annotations

import json
import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from authbridge.audit.events import AuditEvent
from authbridge.clock import utcnow
from tests.conftest import make_settings
from tests.ldapserver import Slapd, closed_port, slapd
from tests.web.conftest import AppFactory
from tests.web.test_pages import csrf, sign_in, sign_up

pytestmark = pytest.mark.ldap
__all__ = ["slapd"]


@pytest.fixture
def client(app_factory: AppFactory, sqlite_url: str, slapd: Slapd) -> TestClient:
    ldap = {
        "corp": slapd.config(displayName="Corp directory"),
        "backup": slapd.config(
            displayName="Backup directory",
            host=f"127.0.0.1:{closed_port()}",
            usernamePrompt="Backup login",
            timeout=2,
        ),
    }
    return app_factory(make_settings(sqlite_url, AUTH__LDAP=json.dumps(ldap)))


def audited(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    audit = client.app.state.services.ready().audit  # type: ignore[attr-defined]
    record = audit.record
    monkeypatch.setattr(audit, "record", lambda event: (events.append(event), record(event)))
    return events


def ldap_sign_in(
    client: TestClient, username: str, password: str, connector: str = "corp", **extra: Any
):
    page = client.get("/login")
    return client.post(
        f"/v1/ldap/login/{connector}",
        data={"username": username, "password": password, "csrf_token": csrf(page.text), **extra},
        follow_redirects=False,
    )


def test_the_login_page_has_a_form_per_directory_labelled_by_its_prompt(
    client: TestClient,
) -> None:
    page = client.get("/login").text
    corp = re.search(r'<form method="post" action="/v1/ldap/login/corp".*?</form>', page, re.S)
    assert corp is not None
    assert 'name="csrf_token"' in corp.group(0)
    assert '<label for="ldap-corp-username">Example username</label>' in corp.group(0)
    assert "disabled" not in corp.group(0)
    # The local form is still there.
    assert 'action="/login"' in page


def test_sign_in_makes_the_account_and_its_teams(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = audited(client, monkeypatch)
    response = ldap_sign_in(client, "alice", "alice-password", next="/account")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200 and "alice" in page.text
    storage = client.app.state.services.ready().storage  # type: ignore[attr-defined]
    user = storage.users.by_identity("corp", "alice")
    assert user is not None and user.username == "alice"
    # Not verified: the directory's mail is no proof the person controls it.
    assert user.email == "alice@example.org" and not user.email_verified
    teams = {(t.name, t.managed_by) for t in storage.teams.teams_of(user.id)}
    assert teams == {("engineers", "idp:corp"), ("admins", "idp:corp")}
    succeeded = [e for e in events if e.type == "signin.succeeded"]
    assert succeeded and succeeded[0].details == {
        "method": "ldap",
        "connector": "corp",
        "amr": ["pwd"],
    }
    # Signing in again by mail lands on the same account.
    client.cookies.clear()
    assert ldap_sign_in(client, "alice@example.org", "alice-password").status_code == 303
    assert storage.users.by_identity("corp", "alice").id == user.id


def test_a_local_account_of_the_same_name_is_never_joined(client: TestClient) -> None:
    """(connector, id) is the key: a local `bob@example.org` and the directory's bob, whose
    mail is the same but unverified, are two accounts."""
    assert sign_up(client, "bob@example.org").status_code == 303
    client.cookies.clear()
    assert ldap_sign_in(client, "bob", "bob-password").status_code == 303
    storage = client.app.state.services.ready().storage  # type: ignore[attr-defined]
    local = storage.users.by_username("bob@example.org")
    directory = storage.users.by_identity("corp", "bob")
    assert local is not None and directory is not None and local.id != directory.id


def test_the_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post(
        "/v1/ldap/login/corp",
        data={"username": "alice", "password": "alice-password"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "authbridge_session" not in response.cookies


def test_wrong_password_is_refused_audited_and_throttled(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = audited(client, monkeypatch)
    for _ in range(5):
        response = ldap_sign_in(client, "alice", "wrong-password")
        assert response.status_code == 401
        assert "do not match an account in Corp directory" in response.text
        assert "aria-invalid" in response.text
    failed = [e for e in events if e.type == "signin.failed"]
    assert len(failed) == 5
    assert failed[0].details == {
        "method": "ldap",
        "connector": "corp",
        "reason": "invalid_credentials",
    }
    assert "wrong-password" not in json.dumps([e.details for e in events])
    # The sixth try waits, even with the right password (per account and address).
    throttled = ldap_sign_in(client, "alice", "alice-password")
    assert throttled.status_code == 429 and throttled.headers["retry-after"]
    # Counted per directory: the local form and another user are not held up.
    assert ldap_sign_in(client, "bob", "bob-password").status_code == 303


def test_empty_password_never_reaches_the_directory(client: TestClient, monkeypatch) -> None:
    connector = client.app.state.services.connectors.password("corp")  # type: ignore[attr-defined]
    calls: list[str] = []
    monkeypatch.setattr(connector, "login", lambda u, p: calls.append(u))
    response = ldap_sign_in(client, "alice", "")
    assert (
        response.status_code == 400 and "Enter your example username and password" in response.text
    )
    assert calls == []


def test_an_injection_string_signs_no_one_in(client: TestClient) -> None:
    for typed in ("*", "admin)(|(userPassword=*)", "*)(uid=*"):
        assert ldap_sign_in(client, typed, "admin-password").status_code == 401


def test_a_directory_that_is_down_fails_only_its_own_form(client: TestClient) -> None:
    response = ldap_sign_in(client, "alice", "alice-password", connector="backup")
    assert response.status_code == 503
    assert "Backup directory cannot be reached right now" in response.text
    backup = re.search(r'action="/v1/ldap/login/backup".*?</form>', response.text, re.S)
    assert backup is not None and "<fieldset disabled" in backup.group(0)
    corp = re.search(r'action="/v1/ldap/login/corp".*?</form>', response.text, re.S)
    assert corp is not None and "disabled" not in corp.group(0)
    # The login page says so too, and every other way in works.
    page = client.get("/login").text
    assert "This directory cannot be reached right now." in page
    assert ldap_sign_in(client, "alice", "alice-password").status_code == 303
    client.cookies.clear()
    assert sign_up(client, "eve@example.com").status_code == 303
    client.cookies.clear()
    assert sign_in(client, "eve@example.com").status_code == 303


def test_directory_calls_and_sign_ins_are_counted_per_connector(client: TestClient) -> None:
    assert ldap_sign_in(client, "alice", "alice-password").status_code == 303
    ldap_sign_in(client, "alice", "alice-password", connector="backup")
    metrics = client.get("/metrics").text
    assert 'authbridge_upstream_request_duration_seconds_count{connector="corp"}' in metrics
    assert 'authbridge_upstream_errors_total{connector="backup",error="unreachable"}' in metrics
    assert 'authbridge_sign_ins_total{method="corp",outcome="success"}' in metrics


def test_an_unknown_form_is_404(client: TestClient) -> None:
    assert ldap_sign_in(client, "alice", "alice-password", connector="nope").status_code == 404


def test_a_directory_admin_takes_the_local_second_step_when_admins_need_one(
    app_factory: AppFactory, sqlite_url: str, slapd: Slapd
) -> None:
    """authbridge checks a directory's password itself, so `mfaRequiredForAdmins` holds
    for its administrators as for local ones: a second factor (enrolled at this sign-in
    when they have none) before any session; the session then says which directory."""
    settings = make_settings(
        sqlite_url,
        AUTH__LDAP=json.dumps({"corp": slapd.config(displayName="Corp directory")}),
        AUTH__LOCAL__MFA_REQUIRED_FOR_ADMINS="true",
    )
    client = app_factory(settings)
    assert ldap_sign_in(client, "alice", "alice-password").status_code == 303  # not admin yet
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    user = next(u for u in ready.storage.users.all() if "alice" in u.username)
    ready.bindings.grant("admin", user_id=user.id, origin="test")
    client.cookies.clear()
    second = ldap_sign_in(client, "alice", "alice-password", next="/account")
    assert second.status_code == 303 and second.headers["location"] == "/login/mfa/enrol"
    assert "authbridge_session" not in client.cookies
    assert "authbridge_device" not in client.cookies  # not before the second step
    page = client.get("/login/mfa/enrol")
    secret = re.search(r'<code id="secret"[^>]*>([A-Z2-7]+)</code>', page.text)
    assert secret
    done = client.post(
        "/login/mfa/enrol",
        data={"code": pyotp.TOTP(secret[1]).now(), "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 200 and "recovery-codes" in done.text
    session = ready.storage.sessions.of_user(user.id, utcnow())[0]
    assert session.auth_method == "corp" and session.methods == ("pwd", "otp", "mfa")
