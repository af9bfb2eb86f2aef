"""`authbridge roles` and `authbridge bindings`: the catalog, grants to users and teams at a
scope, revocation, effective roles, and bindings listed with their origin."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.storage import Storage
from authbridge.storage.models import Team, TeamMember

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> str:
    path = tmp_path / "authbridge.yaml"
    path.write_text(
        f"database:\n  url: {sqlite_url}\n"
        "authorizer:\n  initialAdmins: [boss@corp.example]\n"
        "roles:\n  deployer:\n    description: Deploys DAGs\n"
        "    permissions: [deployments.create]\n"
        "scim:\n  teamRoles:\n    - match: 'ws-*'\n      roles: [editor]\n"
        "      scope: 'workspace:{displayName}'\n"
    )
    return str(path)


def _run(config: str, *args: str) -> object:
    return runner.invoke(app, [*args, "--config", config])


def test_roles_list_shows_builtin_and_configured_roles(config: str) -> None:
    listed = runner.invoke(app, ["roles", "list", "--config", config])
    assert listed.exit_code == 0, listed.output
    assert (
        "admin  (built-in)" in listed.stdout and "deployer  (config)  Deploys DAGs" in listed.stdout
    )
    assert "permissions: deployments.create" in listed.stdout


def test_grant_revoke_and_list_bindings_for_users_and_teams(config: str, sqlite_url: str) -> None:
    storage = Storage.open(sqlite_url)
    ada = storage.users.create(username="ada@example.com", roles=["viewer"])
    with storage.db.session() as session:
        session.add(Team(id="t1", name="ws-analytics", name_key="ws-analytics", source="okta"))
        session.flush()
        session.add(TeamMember(team_id="t1", user_id=ada.id))
    invoke = lambda *a: runner.invoke(app, [*a, "--config", config])  # noqa: E731
    granted = invoke(
        "roles", "grant", "deployer", "--user", "ada@example.com", "--scope", "deployment:d1"
    )
    assert granted.exit_code == 0, granted.output
    assert (
        invoke(
            "roles", "grant", "deployer", "--team", "WS-Analytics", "--scope", "workspace:x"
        ).exit_code
        == 0
    )
    unknown = invoke("roles", "grant", "deployr", "--user", "ada@example.com")
    assert unknown.exit_code == 2 and "did you mean deployer" in unknown.output
    bad_scope = invoke("roles", "grant", "viewer", "--user", "ada@example.com", "--scope", "ws 1")
    assert bad_scope.exit_code == 2 and "is not a scope" in bad_scope.output
    assert (
        invoke("roles", "grant", "viewer", "--user", "ada@example.com", "--team", "t1").exit_code
        == 2
    )

    effective = invoke("roles", "effective", "ada@example.com").stdout
    assert "system: viewer" in effective
    assert "deployment:d1: deployer" in effective
    assert "workspace:ws-analytics: editor" in effective  # from the teamRoles template
    assert "workspace:x: deployer" in effective  # through the team's own binding

    listed = invoke("bindings", "list").stdout
    assert "deployer  deployment:d1  user ada@example.com  origin: cli" in listed
    assert "deployer  workspace:x  team ws-analytics  origin: cli" in listed
    assert "viewer  system  user ada@example.com  origin: default" in listed

    assert (
        invoke(
            "roles", "revoke", "deployer", "--user", "ada@example.com", "--scope", "deployment:d1"
        ).exit_code
        == 0
    )
    assert (
        invoke(
            "roles", "revoke", "deployer", "--user", "ada@example.com", "--scope", "deployment:d1"
        ).exit_code
        == 1
    )
    assert "deployment:d1" not in invoke("roles", "effective", "ada@example.com").stdout


def test_initial_admins_show_as_configuration_bindings_after_start(
    config: str, sqlite_url: str
) -> None:
    from authbridge.web.app import create_app
    from tests.conftest import make_settings, started_clients

    storage = Storage.open(sqlite_url)
    storage.users.create(username="boss", email="boss@corp.example", email_verified=True)
    settings = make_settings(sqlite_url, AUTHORIZER__INITIAL_ADMINS='["boss@corp.example"]')
    with started_clients() as start:
        start(create_app(settings))
    listed = runner.invoke(app, ["bindings", "list", "--role", "admin", "--config", config])
    assert "admin  system  user boss  origin: config:authorizer.initialAdmins" in listed.stdout
