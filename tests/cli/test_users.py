"""`authbridge users`: each command calls the same `UserAdmin` function as the admin API, and
`--output json` answers in the API's field names."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from authbridge.admin.users import UserAdmin
from authbridge.audit.events import Actor
from authbridge.cli.main import app
from authbridge.clock import utcnow
from authbridge.storage import Storage
from authbridge.storage.audit import AuditFilter

runner = CliRunner()
PASSWORD = "a long operator passphrase\n"


@pytest.fixture
def env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE__URL", sqlite_url)
    for email, role in (("root@example.com", "admin"), ("dev@example.com", "viewer")):
        added = runner.invoke(
            app, ["users", "add", email, "--role", role, "--password-stdin"], input=PASSWORD
        )
        assert added.exit_code == 0, added.output
    return sqlite_url


def _session(env: str, username: str) -> str:
    storage = Storage.open(env)
    user = storage.users.by_username(username)
    assert user is not None
    now = utcnow()
    storage.sessions.create(
        id_hash="e" * 64,
        user_id=user.id,
        auth_method="local",
        now=now,
        expires_at=now + timedelta(hours=1),
        client_address="192.0.2.7",
        user_agent="curl/8",
    )
    storage.db.dispose()
    return "e" * 64


def test_list_json_has_the_api_field_names_and_filters(env: str) -> None:
    listed = runner.invoke(app, ["users", "list", "--output", "json"])
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.stdout)["items"]
    assert [u["username"] for u in items] == ["dev@example.com", "root@example.com"]
    assert {"id", "emailVerified", "displayName", "managedBy", "createdAt"} <= items[0].keys()
    admins = json.loads(
        runner.invoke(app, ["users", "list", "--role", "admin", "-o", "json"]).stdout
    )
    assert [u["username"] for u in admins["items"]] == ["root@example.com"]
    found = runner.invoke(app, ["users", "list", "-q", "DE", "--limit", "1"])
    assert found.stdout.strip() == "dev@example.com  viewer"
    assert runner.invoke(app, ["users", "list", "--role", "nope"]).exit_code == 2
    assert runner.invoke(app, ["users", "list", "--status", "gone"]).exit_code == 2


def test_disable_enable_revoke_remove_go_through_user_admin(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    actors: list[Actor] = []
    for name in ("disable", "enable", "revoke", "delete"):
        original = getattr(UserAdmin, name)

        def spy(self: UserAdmin, actor: Actor, *args: object, _f=original) -> object:  # type: ignore[no-untyped-def]
            actors.append(actor)
            return _f(self, actor, *args)

        monkeypatch.setattr(UserAdmin, name, spy)
    session = _session(env, "dev@example.com")
    disabled = runner.invoke(app, ["users", "disable", "dev@example.com"])
    assert disabled.exit_code == 0 and "1 credential(s) revoked" in disabled.stdout
    listed = runner.invoke(app, ["users", "list", "--status", "disabled"]).stdout
    assert listed.strip() == "dev@example.com  viewer  (disabled)"
    assert runner.invoke(app, ["users", "enable", "dev@example.com"]).exit_code == 0
    _session(env, "dev@example.com")
    revoked = runner.invoke(app, ["users", "revoke", "dev@example.com"])
    assert revoked.exit_code == 0 and "1 credential(s) revoked" in revoked.stdout
    removed = runner.invoke(app, ["users", "remove", "dev@example.com", "--yes"])
    assert removed.exit_code == 0, removed.output
    storage = Storage.open(env)
    assert storage.users.by_username("dev@example.com") is None
    assert storage.sessions.get(session) is None
    assert [a.kind for a in actors] == ["cli"] * 4 and all(a.id for a in actors)
    assert runner.invoke(app, ["users", "remove", "nobody@example.com", "--yes"]).exit_code == 1


def test_the_last_admin_cannot_be_disabled_or_removed_from_the_cli(env: str) -> None:
    disabled = runner.invoke(app, ["users", "disable", "root@example.com"])
    assert disabled.exit_code == 1 and "last active system admin" in disabled.output
    removed = runner.invoke(app, ["users", "remove", "root@example.com", "--yes"])
    assert removed.exit_code == 1 and "last active system admin" in removed.output


def test_sessions_lists_handles_and_ends_one(env: str) -> None:
    id_hash = _session(env, "dev@example.com")
    listed = runner.invoke(app, ["users", "sessions", "dev@example.com", "-o", "json"])
    items = json.loads(listed.stdout)["items"]
    assert len(items) == 1 and items[0]["address"] == "192.0.2.7"
    assert items[0]["userAgent"] == "curl/8" and items[0]["id"] != id_hash
    text = runner.invoke(app, ["users", "sessions", "dev@example.com"]).stdout
    assert items[0]["id"] in text and "192.0.2.7" in text
    ended = runner.invoke(app, ["users", "sessions", "dev@example.com", "--end", items[0]["id"]])
    assert ended.exit_code == 0, ended.output
    assert json.loads(
        runner.invoke(app, ["users", "sessions", "dev@example.com", "-o", "json"]).stdout
    ) == {"items": []}
    again = runner.invoke(app, ["users", "sessions", "dev@example.com", "--end", items[0]["id"]])
    assert again.exit_code == 1


def test_reset_mfa_removes_the_second_factors_and_is_audited(env: str) -> None:
    storage = Storage.open(env)
    user = storage.users.by_username("dev@example.com")
    assert user is not None
    storage.mfa.enrol(user.id, "sealed", ["hash"])
    reset = runner.invoke(app, ["users", "reset-mfa", "dev@example.com"])
    assert reset.exit_code == 0, reset.output
    assert "second factors removed" in reset.stdout
    assert storage.mfa.totp(user.id) is None and storage.mfa.recovery_codes_left(user.id) == 0
    again = runner.invoke(app, ["users", "reset-mfa", "dev@example.com"])
    assert "had no second factor" in again.stdout
    events = storage.audit.query(AuditFilter(type="user.mfa_reset"), limit=10)
    assert len(events) == 2 and events[0].actor_kind == "cli"
    assert runner.invoke(app, ["users", "reset-mfa", "nobody@example.com"]).exit_code != 0
    storage.db.dispose()
