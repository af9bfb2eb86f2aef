"""The `authbridge` command: config check, db upgrade, keys rotate and list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from authbridge.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE__URL", sqlite_url)
    return sqlite_url


def test_config_check_prints_effective_config_with_secrets_masked(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET", "very-secret-value")
    monkeypatch.setenv("AUTH__OPENID_CONNECT__OKTA__CLIENT_ID", "client-123")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "very-secret-value" not in result.output
    printed = yaml.safe_load(result.stdout)
    okta = printed["auth"]["openidConnect"]["okta"]
    assert okta["clientId"] == "client-123" and okta["clientSecret"] == "********"


def test_config_check_fails_with_path_and_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "auth:\n  openidConnect:\n    flow: hybrid\n    okta:\n      clientSecert: x\n"
    )
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2
    assert (
        "auth.openidConnect.okta.clientSecert: unknown key; did you mean "
        "auth.openidConnect.okta.clientSecret?" in result.output
    )
    assert "auth.openidConnect.flow" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_then_keys_rotate_and_list(env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    listed = runner.invoke(app, ["keys", "list"])
    lines = [line for line in listed.stdout.splitlines() if "ES256" in line]
    assert len(lines) == 2  # the first key, now retiring, and the new one
    assert sum("published until" in line for line in lines) == 1
    assert "PRIVATE" not in listed.output


def test_users_add_admin_list_grant_and_disable(env: str) -> None:
    added = runner.invoke(
        app,
        ["users", "add", "ops@example.com", "--role", "admin", "--password-stdin"],
        input="a long operator passphrase\n",
    )
    assert added.exit_code == 0, added.output
    weak = runner.invoke(
        app, ["users", "add", "weak@example.com", "--password-stdin"], input="password\n"
    )
    assert weak.exit_code == 1 and "too common" in weak.output
    runner.invoke(
        app,
        ["users", "add", "dev@example.com", "--password-stdin"],
        input="another long passphrase\n",
    )
    assert runner.invoke(app, ["users", "grant", "dev@example.com", "editor"]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"]).stdout
    assert "ops@example.com  admin" in listed and "dev@example.com  editor,viewer" in listed

    from authbridge.storage import Storage

    storage = Storage.open(env)
    user = storage.users.by_username("dev@example.com")
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    storage.sessions.create(
        id_hash="d" * 64,
        user_id=user.id,
        auth_method="local",
        now=now,
        expires_at=now + timedelta(hours=1),
    )
    disabled = runner.invoke(app, ["users", "disable", "dev@example.com"])
    assert disabled.exit_code == 0 and "1 credential(s) revoked" in disabled.stdout
    assert storage.sessions.get("d" * 64) is None
    assert storage.users.by_username("dev@example.com").active is False
    assert runner.invoke(app, ["users", "grant", "nobody@example.com", "admin"]).exit_code == 1


LOAD = """
import gc, json, sys
full = []
gc.callbacks.append(lambda phase, info: phase == "start" and full.append(info["generation"]))
from authbridge import cli
sys.argv = ["authbridge", "--help"]
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "full": full.count(2)}))
"""


def test_the_command_loads_without_walking_its_modules_objects(tmp_path: Path) -> None:
    """The console script's `main` holds the cyclic collector off while the commands'
    modules load (it walked every object they made three or four times, a fifth of a
    start-up, and freed next to nothing), then freezes them and turns it back on."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert seen["enabled"] is True
    assert seen["full"] == 0  # no full collection while loading, nor for --help after
    assert seen["frozen"] > 50_000  # what loading made is out of the collector's sight
