"""Mail, branding and audit attacks: header injection through the names and addresses a
mail carries, markup through the inviter's name, CSS through branding colours, and a
forged client address or a log line broken by an actor's name."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default

import pytest
from pydantic import ValidationError

from authbridge.config.branding import BrandingSettings
from authbridge.config.model import SmtpSettings
from authbridge.directory.mail import Mail, Mailer
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    with started_clients() as start:
        yield Api(start(create_app(make_settings(sqlite_url))))


def _mailer() -> Mailer:
    return Mailer(SmtpSettings(host="127.0.0.1", security="none"))


def test_inviter_name_cannot_add_headers_to_the_invitation_mail() -> None:
    evil = "Eve\r\nBcc: victim@evil.example\r\nX-Injected: 1"
    message = _mailer().render(
        Mail(
            "ada@example.com",
            "invitation",
            {"email": "ada@example.com", "link": "x", "inviter": evil, "expires": "soon"},
        )
    )
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert parsed.get_all("To") == ["ada@example.com"]


def test_a_recipient_with_a_line_break_is_never_sent() -> None:
    with pytest.raises(ValueError):
        message = _mailer().render(
            Mail(
                "ada@example.com\r\nBcc: victim@evil.example",
                "password_reset",
                {"email": "a", "link": "x", "minutes": 30},
            )
        )
        message.as_bytes()


def test_inviter_markup_is_escaped_in_the_html_mail() -> None:
    message = _mailer().render(
        Mail(
            "ada@example.com",
            "invitation",
            {
                "email": "ada@example.com",
                "link": "x",
                "inviter": "<script>alert(1)</script>",
                "expires": "soon",
            },
        )
    )
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "colour", ["#fff;}body{background:url(//evil)}", "red", "#12345g", "#fff\n", "expression(1)"]
)
def test_branding_colours_cannot_carry_css(colour: str) -> None:
    with pytest.raises(ValidationError):
        BrandingSettings(primary_color=colour)


def test_x_forwarded_for_is_not_trusted_without_trusted_proxies(api: Api) -> None:
    r = api.post(
        "/api/v1/teams", json={"name": "spoofed"}, headers={"x-forwarded-for": "203.0.113.9"}
    )
    assert r.status_code == 201, r.text
    assert api.ready.audit.flush()  # type: ignore[attr-defined]
    events = api.get("/api/v1/audit/events", params={"limit": 50}).json()["items"]
    [created] = [e for e in events if e["type"] == "team.created"]
    assert created["actor"]["address"] != "203.0.113.9"


def test_an_actor_name_cannot_forge_a_second_log_line(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    user = api.user("admin", username='x@example.com"}\n{"type":"forged')
    token = api.token_of(user)
    r = api.client.post(
        "/api/v1/teams",
        json={"name": 't\n{"forged":1}'},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code in (201, 400, 422), r.text
    out = capsys.readouterr().out
    assert '{"type":"forged' not in [line[:16] for line in out.splitlines()]
    assert not any(line.startswith('{"forged"') for line in out.splitlines())


def test_no_secret_reaches_the_audit_log_the_logs_or_the_openapi_document(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: list[str] = []
    r = api.post("/api/v1/service-accounts", json={"name": "leak", "role": "viewer"})
    secrets.append(r.json()["clientSecret"])
    r = api.post(f"/api/v1/clients/{r.json()['clientId']}/secret", json={})
    secrets.append(r.json()["clientSecret"])
    r = api.post("/api/v1/robots", json={"name": "leakbot"})
    secrets.append(r.json()["token"])
    r = api.post("/api/v1/scim/sources/microsoft/credentials", json={})
    assert r.status_code == 201, r.text
    secrets.append(r.json()["token"])
    r = api.post("/api/v1/invitations", json={"email": "leak@example.com"})
    secrets.append(r.json()["link"].rpartition("/")[2])
    secrets.append(api.token("admin"))
    assert api.ready.audit.flush()  # type: ignore[attr-defined]
    events = api.get("/api/v1/audit/events", params={"limit": 200}).text
    spec = api.client.get("/api/v1/openapi.json").text + api.client.get("/openapi.json").text
    logs = capsys.readouterr()
    for secret in secrets:
        assert secret and secret not in events
        assert secret not in spec
        assert secret not in logs.out and secret not in logs.err


def test_every_write_leaves_an_audit_event(api: Api) -> None:
    def count() -> int:
        assert api.ready.audit.flush()  # type: ignore[attr-defined]
        return len(api.get("/api/v1/audit/events", params={"limit": 200}).json()["items"])

    user = api.user("viewer")
    team = api.post("/api/v1/teams", json={"name": "audited"}).json()
    sa = api.post("/api/v1/service-accounts", json={"name": "aud", "role": "viewer"}).json()
    inv = api.post("/api/v1/invitations", json={"email": "aud@example.com"}).json()
    writes = [
        ("PUT", f"/api/v1/teams/{team['id']}/members/{user}", None),
        ("DELETE", f"/api/v1/teams/{team['id']}/members/{user}", None),
        ("POST", "/api/v1/bindings", {"role": "editor", "user": user}),
        ("POST", f"/api/v1/clients/{sa['clientId']}/secret", {}),
        ("POST", f"/api/v1/invitations/{inv['id']}/resend", None),
        ("DELETE", f"/api/v1/invitations/{inv['id']}", None),
        ("POST", f"/api/v1/users/{user}/disable", None),
        ("POST", f"/api/v1/users/{user}/revoke", None),
        ("DELETE", f"/api/v1/users/{user}", None),
    ]
    for method, path, body in writes:
        before = count()
        r = api.request(method, path, json=body)
        assert r.status_code < 300, (method, path, r.text)
        assert count() > before, (method, path)
