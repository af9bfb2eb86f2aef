"""`authbridge api` against a live server: the token from --token, $AUTHBRIDGE_TOKEN or the
login store (refreshed when expired), JSON printed, problems as `title: detail` and exit 1,
fields and --input as the body, headers, pagination; and it never sends the token anywhere
but the server (no absolute URLs, no plain http off loopback)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from click.testing import Result
from typer.testing import CliRunner

from authbridge.cli.main import app as cli
from authbridge.cli.tokenstore import load_tokens, save_tokens
from authbridge.provider.clients import CLI_CLIENT_ID, DEVICE_GRANT
from authbridge.web.app import create_app
from authbridge.web.services import Ready
from tests.conftest import make_settings
from tests.live import free_port, serve
from tests.provider.test_live import browser_signed_in
from tests.web.api.conftest import mint_token, new_user
from tests.web.api.echo import PROBLEM_PATH, echo


@dataclass
class Server:
    url: str
    ready: Ready
    admin: str  # an admin's access token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database = tmp_path_factory.mktemp("cli-api") / "authbridge.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(f"sqlite:///{database}", SERVER__ISSUER=url))
    app.include_router(echo)
    # Warnings only: the server's request log would share stdout with the CLI's JSON here.
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        with serve(app, port):
            ready: Ready = app.state.services.ready()
            yield Server(url, ready, mint_token(ready, new_user(ready, "admin")))
    finally:
        structlog.configure(**saved)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHBRIDGE_CONFIG_DIR", str(tmp_path / "cfg"))
    for name in ("AUTHBRIDGE_TOKEN", "AUTHBRIDGE_SERVER"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str, stdin: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(cli, ["api", *args], input=stdin, env=env or None)


def as_admin(server: Server, *args: str, stdin: str | None = None) -> Result:
    return run("--server", server.url, "--token", server.admin, *args, stdin=stdin)


def printed(result: Result) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_get_prints_the_json_body(server: Server) -> None:
    roles = printed(as_admin(server, "roles"))
    assert "admin" in {role["name"] for role in roles["items"]}


@pytest.mark.parametrize("path", ["roles/admin", "/roles/admin", "/api/v1/roles/admin"])
def test_paths_are_under_the_api(server: Server, path: str) -> None:
    assert printed(as_admin(server, path))["name"] == "admin"


def test_a_problem_is_title_and_detail_on_stderr_and_exit_1(server: Server) -> None:
    result = as_admin(server, "roles/no-such-role")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Not found: ")


def test_field_errors_are_listed(server: Server) -> None:
    result = as_admin(server, "-X", "POST", PROBLEM_PATH, "-f", "name=a", "-f", "count=x")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("Invalid request: ")
    assert any(line.strip().startswith("count: ") for line in result.stderr.splitlines())


def test_fields_make_a_json_body_and_imply_post(server: Server) -> None:
    body = printed(
        as_admin(server, PROBLEM_PATH, "-f", "name=a", "-F", "count=3", "-f", "tags[]=x")
    )
    assert body == {"name": "a", "count": 3, "tags": ["x"]}


def test_input_from_a_file_and_from_stdin(server: Server, tmp_path: Path) -> None:
    document = {"name": "from-file", "count": 1}
    path = tmp_path / "thing.json"
    path.write_text(json.dumps(document))
    assert printed(as_admin(server, PROBLEM_PATH, "--input", str(path))) == {**document, "tags": []}
    piped = as_admin(server, PROBLEM_PATH, "--input", "-", stdin=json.dumps(document))
    assert printed(piped)["name"] == "from-file"


def test_headers_are_sent(server: Server) -> None:
    body = printed(as_admin(server, "-X", "PATCH", PROBLEM_PATH, "-H", 'If-Match: "7"'))
    assert body["name"] == "7"


def test_include_prints_the_status_and_headers(server: Server) -> None:
    result = as_admin(server, "-i", "roles")
    assert result.stdout.startswith("HTTP/1.1 200 OK\n")
    assert "content-type: application/json" in result.stdout


def test_paginate_follows_next_cursor(server: Server) -> None:
    everything = printed(as_admin(server, "--paginate", PROBLEM_PATH))
    assert [t["count"] for t in everything["items"]] == [0, 1, 2, 3, 4]
    first = printed(as_admin(server, PROBLEM_PATH))
    assert len(first["items"]) == 2 and first["nextCursor"]


def test_the_token_from_the_environment(server: Server) -> None:
    result = run("roles", AUTHBRIDGE_TOKEN=server.admin, AUTHBRIDGE_SERVER=server.url)
    assert printed(result)["items"]


def test_without_a_token_the_server_refuses(server: Server) -> None:
    result = run("--server", server.url, "--token", "not.a.token", "roles")
    assert result.exit_code == 1
    assert result.stderr.startswith("Unauthorized: ")


def test_the_stored_login_gives_server_and_token(server: Server) -> None:
    store(server.url, access_token=server.admin, expires_at=int(time.time()) + 300)
    assert printed(run("roles"))["items"]


def test_several_stored_servers_need_server(server: Server) -> None:
    store(server.url, access_token=server.admin, expires_at=int(time.time()) + 300)
    store("https://other.example", access_token="x", expires_at=int(time.time()) + 300)
    result = run("roles")
    assert result.exit_code == 1 and "--server" in result.stderr
    assert printed(run("--server", server.url, "roles"))["items"]


def test_an_expired_stored_token_is_refreshed_first(server: Server) -> None:
    """A real login's tokens (device grant, RFC 8628), stored as expired: the command
    refreshes them (the refresh token rotates) and the call succeeds."""
    tokens = device_login(server)
    user_id = server.ready.provider.access_claims(tokens["access_token"])["sub"]  # type: ignore[index]
    server.ready.bindings.grant("admin", user_id=user_id, origin="test")
    store(
        server.url,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        expires_at=int(time.time()) - 10,
    )
    assert printed(run("roles"))["items"]
    refreshed = load_tokens()[server.url]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["expires_at"] > time.time()


def test_an_expired_token_that_cannot_be_refreshed_says_to_log_in(server: Server) -> None:
    store(server.url, access_token="x", refresh_token="stale", expires_at=0)
    result = run("roles")
    assert result.exit_code == 1 and "authbridge login" in result.stderr


def test_an_absolute_url_is_refused(server: Server) -> None:
    result = run("--server", server.url, "--token", server.admin, "https://evil.example/x")
    assert result.exit_code == 1 and "not a URL" in result.stderr


def test_plain_http_off_loopback_is_refused() -> None:
    result = run("--server", "http://authbridge.example", "--token", "t", "roles")
    assert result.exit_code == 1 and "plain http" in result.stderr


def test_an_unreachable_server_is_a_message_not_a_traceback() -> None:
    result = run("--server", f"http://127.0.0.1:{free_port()}", "--token", "t", "roles")
    assert result.exit_code == 1 and result.stderr.startswith("Cannot reach ")


def store(issuer: str, **saved: Any) -> None:
    tokens = load_tokens()
    tokens[issuer] = {
        "client_id": CLI_CLIENT_ID,
        "token_endpoint": issuer + "/oauth2/token",
        "refresh_token": None,
        **saved,
    }
    save_tokens(tokens)


def device_login(server: Server) -> dict[str, Any]:
    """The device grant as `authbridge login` runs it, approved by a signed-in browser."""
    document = httpx.get(server.url + "/.well-known/openid-configuration").json()
    grant = httpx.post(
        document["device_authorization_endpoint"],
        data={"client_id": CLI_CLIENT_ID, "scope": "openid offline_access"},
    ).json()
    browser = browser_signed_in(server.url)
    page = browser.get("/device", params={"user_code": grant["user_code"]})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    browser.post(
        "/device",
        data={"csrf_token": csrf.group(1), "user_code": grant["user_code"], "decision": "approve"},
        headers={"origin": server.url},
    )
    answer = httpx.post(
        document["token_endpoint"],
        data={
            "grant_type": DEVICE_GRANT,
            "device_code": grant["device_code"],
            "client_id": CLI_CLIENT_ID,
        },
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens
