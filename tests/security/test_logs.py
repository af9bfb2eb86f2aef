"""Red team: secrets in logs. Runs real flows with the service's own log configuration and
greps every line for passwords, setup tokens, state, session cookies and access tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import structlog
from fastapi.testclient import TestClient

from authbridge.web.observability import configure_logging
from tests.security.conftest import AppFactory
from tests.web.test_pages import csrf, sign_in, sign_up

SECRET_PASSWORD = "Zebra-Quartz-" + "7" * 12


@pytest.fixture
def json_logs() -> Iterator[None]:
    configure_logging("debug", "json")
    yield
    structlog.reset_defaults()


@pytest.fixture
def console_logs() -> Iterator[None]:
    configure_logging("debug", "console")
    yield
    structlog.reset_defaults()


def _mock_login(client: TestClient, email: str) -> tuple[str, str]:
    start = client.get("/v1/oauth/start?provider=mock&next=/account", follow_redirects=False)
    location = start.headers["location"]
    state = location.split("state=", 1)[1]
    page = client.get(location)
    done = client.post(
        "/v1/oauth/mock/authorize",
        data={"state": state, "email": email, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    return state, client.cookies.get("authbridge_session") or ""


def test_json_logs_of_every_flow_carry_no_secret(
    app_factory: AppFactory, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    setup_link = re.search(r"/setup\?token=([\w-]+)", capsys.readouterr().out)
    assert setup_link
    token = setup_link.group(1)
    form = client.get(f"/setup?token={token}")
    client.post(
        "/setup",
        data={
            "token": token,
            "email": "root@example.com",
            "password": SECRET_PASSWORD,
            "csrf_token": csrf(form.text),
        },
    )
    client.cookies.clear()
    sign_up(client, "ada@example.com", SECRET_PASSWORD)
    ada_session = client.cookies.get("authbridge_session") or ""
    client.cookies.clear()
    sign_in(client, "ada@example.com", SECRET_PASSWORD + "x")
    sign_in(client, "ada@example.com", SECRET_PASSWORD)
    account = client.get("/account")
    access_token = re.search(r"(ey[\w-]+\.[\w-]+\.[\w-]+)", account.text)
    assert access_token
    client.cookies.clear()
    state, mock_session = _mock_login(client, "mo@example.com")
    client.get(f"/v1/oauth/callback/?state={state}&code=the-code-value-123")
    logs = capsys.readouterr().err
    assert '"event": "sign_in"' in logs or '"event":"sign_in"' in logs.replace(" ", "")
    for secret in (
        SECRET_PASSWORD,
        token,
        ada_session,
        mock_session,
        state,
        access_token.group(1),
        "the-code-value-123",
    ):
        assert secret and secret not in logs, f"{secret[:12]}... is in the logs"


def test_console_logs_of_a_crash_do_not_print_the_password(
    app_factory: AppFactory, console_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    client.get("/login")
    capsys.readouterr()
    # Any unhandled error in the handler will do; a non-ASCII csrf_token is one (finding 4).
    response = client.post(
        "/login",
        data={"username": "ada@example.com", "password": SECRET_PASSWORD, "csrf_token": "\u00e9"},
    )
    assert response.status_code in (403, 500)
    logs = capsys.readouterr()
    if response.status_code == 500:
        assert "Traceback" in logs.err  # the crash was logged, as plain text
    # format_exc_info runs before the console renderer, so no frame locals are printed.
    assert SECRET_PASSWORD not in logs.err + logs.out


def test_json_logs_of_a_crash_do_not_print_the_password(
    app_factory: AppFactory, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    client.get("/login")
    capsys.readouterr()
    client.post(
        "/login",
        data={"username": "ada@example.com", "password": SECRET_PASSWORD, "csrf_token": "\u00e9"},
    )
    logs = capsys.readouterr()
    assert SECRET_PASSWORD not in logs.err + logs.out


def test_access_log_has_no_query_string(
    app_factory: AppFactory, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    capsys.readouterr()
    client.get("/setup?token=leaky-setup-token-value")
    client.get("/v1/oauth/callback/?state=leaky-state&code=leaky-code")
    logs = capsys.readouterr().err
    assert "leaky" not in logs
