"""`authbridge scim credentials list|add|retire` and `authbridge connectors list`: the
admin service's acts from the command line, with `--output json` in the API's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.scim.auth import digest_of
from authbridge.storage import Storage

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> str:
    path = tmp_path / "authbridge.yaml"
    path.write_text(
        f"database:\n  url: {sqlite_url}\n"
        "scim:\n  okta:\n    authCode: 'okta-env:env-password'\n"
        "auth:\n  openidConnect:\n    flow: code\n    corp:\n      enabled: true\n"
        "      clientId: c1\n      discoveryUrl: https://idp.example.com\n"
    )
    return str(path)


def _run(config: str, *args: str) -> Result:
    return runner.invoke(app, [*args, "--config", config])


def test_add_list_retire_with_json_output(config: str, sqlite_url: str) -> None:
    listed = _run(config, "scim", "credentials", "list", "okta", "--output", "json")
    assert listed.exit_code == 0, listed.output
    (env,) = json.loads(listed.stdout)["items"]
    assert env["id"] == "env" and env["state"] == "active" and env["username"] == "okta-env"

    added = _run(config, "scim", "credentials", "add", "okta", "--output", "json")
    assert added.exit_code == 0, added.output
    issued = json.loads(added.stdout)
    assert issued["password"] and issued["username"].startswith("okta-")
    # What was printed is what the server will accept.
    storage = Storage.open(sqlite_url)
    (row,) = [r for r in storage.scim_credentials.all("okta") if r.id == issued["id"]]
    assert row.digest == digest_of(f"{issued['username']}:{issued['password']}").hex()
    assert row.created_by is not None and row.created_by.startswith("cli:")

    # The new one may go (env is still active); then env is the last one.
    assert _run(config, "scim", "credentials", "retire", "okta", issued["id"]).exit_code == 0
    last = _run(config, "scim", "credentials", "retire", "okta", "env")
    assert last.exit_code == 1 and "last active credential" in last.output
    forced = _run(config, "scim", "credentials", "retire", "okta", "env", "--force")
    assert forced.exit_code == 0, forced.output
    text = _run(config, "scim", "credentials", "list", "okta").stdout
    assert "env  basic  okta-env  retired" in text
    assert issued["password"] not in text


def test_a_bearer_token_is_printed_once_in_text(config: str) -> None:
    added = _run(config, "scim", "credentials", "add", "microsoft")
    assert added.exit_code == 0, added.output
    (line,) = [x for x in added.stdout.splitlines() if x.startswith("token: ")]
    token = line.removeprefix("token: ")
    listed = _run(config, "scim", "credentials", "list", "microsoft", "-o", "json")
    assert token not in listed.stdout
    (item,) = json.loads(listed.stdout)["items"]
    assert item["kind"] == "bearer" and item["fromEnvironment"] is False


def test_unknown_source_is_an_error(config: str) -> None:
    result = _run(config, "scim", "credentials", "list", "google")
    assert result.exit_code == 1 and "no SCIM source" in result.output


def test_connectors_list(config: str) -> None:
    result = _run(config, "connectors", "list", "--output", "json")
    assert result.exit_code == 0, result.output
    (corp,) = json.loads(result.stdout)["items"]
    assert corp["id"] == "corp" and corp["redirectUri"].endswith("/v1/oauth/callback/")
    assert corp["status"]["status"] == "unknown"  # a command calls no IdP
    text = _run(config, "connectors", "list").stdout
    assert "corp  oidc  True" in text
