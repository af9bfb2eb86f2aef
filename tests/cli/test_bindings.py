"""`authbridge bindings list|grant|revoke` and `roles grant|revoke`: the admin API's
functions (`BindingAdmin`), so the command line refuses what the API refuses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.directory.roles import CONFIG_ADMINS_ORIGIN
from authbridge.storage import Storage

runner = CliRunner()


@pytest.fixture
def storage(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Storage:
    monkeypatch.setenv("DATABASE__URL", sqlite_url)
    return Storage.open(sqlite_url)


def test_grant_list_as_json_and_revoke_by_id(storage: Storage) -> None:
    ada = storage.users.create(username="ada@example.com", roles=[])
    granted = runner.invoke(
        app, ["bindings", "grant", "editor", "--user", "ada@example.com", "--scope", "workspace:w"]
    )
    assert granted.exit_code == 0 and "now has editor at workspace:w" in granted.output
    again = runner.invoke(
        app, ["bindings", "grant", "editor", "--user", "ada@example.com", "--scope", "workspace:w"]
    )
    assert again.exit_code == 0 and "already had" in again.output

    listed = runner.invoke(app, ["bindings", "list", "--user", "ada@example.com", "-o", "json"])
    [binding] = json.loads(listed.stdout)["items"]
    assert binding["user"] == ada.id and binding["origin"] == "cli"
    assert binding["role"] == "editor" and binding["readOnly"] is False

    revoked = runner.invoke(app, ["bindings", "revoke", str(binding["id"])])
    assert revoked.exit_code == 0, revoked.output
    assert "no longer has editor at workspace:w" in revoked.output
    assert runner.invoke(app, ["bindings", "revoke", str(binding["id"])]).exit_code == 1


def test_configuration_bindings_and_the_last_admin_are_kept(storage: Storage) -> None:
    boss = storage.users.create(username="boss", roles=[])
    root = storage.users.create(username="root", roles=["admin"])
    storage.bindings.add("editor", user_id=boss.id, origin=CONFIG_ADMINS_ORIGIN)
    [config] = storage.bindings.find(origin=CONFIG_ADMINS_ORIGIN)
    refused = runner.invoke(app, ["bindings", "revoke", str(config.id)])
    assert refused.exit_code == 1 and "edit the configuration file" in refused.output

    last = runner.invoke(app, ["roles", "revoke", "admin", "--user", "root"])
    assert last.exit_code == 1 and "last binding" in last.output
    assert storage.bindings.find(user_id=root.id, role="admin")
    unknown = runner.invoke(app, ["bindings", "grant", "edtor", "--user", "boss"])
    assert unknown.exit_code == 2 and "did you mean editor" in unknown.output
