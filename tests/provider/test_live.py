"""Against a live uvicorn on loopback: Authlib's client through code + PKCE and refresh, and
`authbridge login` / `authbridge token` with the device grant and with the loopback redirect."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from typer.testing import CliRunner

from authbridge.cli.main import app as cli
from authbridge.config.model import ClientSettings
from tests.conftest import make_settings
from tests.live import free_port, live_server

PASSWORD = "correct horse battery staple"
CALLBACK = "https://rp.example/callback"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = make_settings(sqlite_url, SERVER__ISSUER=issuer).model_copy(
        update={
            "clients": {
                "webapp": ClientSettings(
                    secret="live-secret-0123456789abcdef", redirect_uris=[CALLBACK]
                ),
            }
        }
    )
    with live_server(settings, port) as url:
        yield url


def browser_signed_in(issuer: str) -> httpx.Client:
    browser = httpx.Client(base_url=issuer, follow_redirects=False, timeout=10)
    page = browser.get("/signup")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = browser.post(
        "/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"origin": issuer},
    )
    assert response.status_code == 303, response.text
    return browser


def test_code_pkce_and_refresh_over_real_http(server: str) -> None:
    browser = browser_signed_in(server)
    rp = OAuth2Client(
        "webapp",
        "live-secret-0123456789abcdef",
        redirect_uri=CALLBACK,
        scope="openid email",
        code_challenge_method="S256",
    )
    verifier = "q" * 60
    metadata = httpx.get(server + "/.well-known/openid-configuration").json()
    url, _state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="abc"
    )
    answer = browser.get(url)
    assert answer.status_code == 302
    token = rp.fetch_token(
        metadata["token_endpoint"],
        authorization_response=answer.headers["location"],
        code_verifier=verifier,
    )
    assert rp.get(metadata["userinfo_endpoint"]).json()["email"] == "ada@example.com"
    refreshed = rp.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cfg"
    monkeypatch.setenv("AUTHBRIDGE_CONFIG_DIR", str(directory))
    return directory


def _approve_when_shown(server: str, output: list[str]) -> None:
    browser = browser_signed_in(server)
    for _ in range(200):
        text = "".join(output)
        match = re.search(r"([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})", text)
        if match:
            page = browser.get("/device", params={"user_code": match.group(1)})
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            browser.post(
                "/device",
                data={"csrf_token": token, "user_code": match.group(1), "decision": "approve"},
                headers={"origin": server},
            )
            return
        threading.Event().wait(0.05)


def test_cli_login_with_the_device_grant_then_token(
    server: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output: list[str] = []
    from authbridge.cli import login as login_module

    original = login_module.out.print

    def capture(*args, **kwargs) -> None:
        output.append(" ".join(str(a) for a in args))
        original(*args, **kwargs)

    monkeypatch.setattr(login_module.out, "print", capture)
    approver = threading.Thread(target=_approve_when_shown, args=(server, output))
    approver.start()
    result = CliRunner().invoke(cli, ["login", "--issuer", server])
    approver.join()
    assert result.exit_code == 0, result.output
    assert "You can sign in with: email and password" in "".join(output)
    stored = config_dir / "tokens.json"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config_dir).st_mode) == 0o700
    printed = CliRunner().invoke(cli, ["token", "--issuer", server])
    assert printed.exit_code == 0
    access = printed.output.strip().splitlines()[-1]  # server logs share stdout here
    info = httpx.get(server + "/oauth2/userinfo", headers={"authorization": f"Bearer {access}"})
    assert info.status_code == 200 and info.json()["email"] == "ada@example.com"
    # force a refresh: the stored token is rotated and the new access token works
    before = stored.read_text()
    again = CliRunner().invoke(cli, ["token", "--issuer", server, "--min-valid", "999999"])
    assert again.exit_code == 0 and stored.read_text() != before
    info = httpx.get(
        server + "/oauth2/userinfo",
        headers={"authorization": f"Bearer {again.output.strip().splitlines()[-1]}"},
    )
    assert info.status_code == 200
    out = CliRunner().invoke(cli, ["logout", "--issuer", server])
    assert out.exit_code == 0
    assert CliRunner().invoke(cli, ["token", "--issuer", server]).exit_code == 1


def test_cli_login_with_a_browser_and_loopback_redirect(
    server: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = browser_signed_in(server)

    def open_in_signed_in_browser(url: str) -> bool:
        answer = browser.get(url)
        location = answer.headers["location"]
        assert location.startswith("http://127.0.0.1:")  # any port, RFC 8252 §7.3
        threading.Thread(target=httpx.get, args=(location,), daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", open_in_signed_in_browser)
    result = CliRunner().invoke(cli, ["login", "--issuer", server, "--browser"])
    assert result.exit_code == 0, result.output
    access = CliRunner().invoke(cli, ["token", "--issuer", server]).output.strip().splitlines()[-1]
    info = httpx.get(server + "/oauth2/userinfo", headers={"authorization": f"Bearer {access}"})
    assert info.status_code == 200


def test_token_without_login_says_what_to_do(config_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["token", "--issuer", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "authbridge login" in result.output
