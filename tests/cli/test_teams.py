"""`authbridge teams dry-run`: a login's or a SCIM PATCH's effect on teams, written nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.config.model import ScimSettings
from authbridge.storage import Storage
from authbridge.storage.models import Team, TeamMember, TeamMemberSource
from tests.directory.vendor import payload
from tests.wiring import scim_service

runner = CliRunner()


@pytest.fixture
def env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE__URL", sqlite_url)
    monkeypatch.setenv("AUTH__OPENID_CONNECT__OKTA__ENABLED", "true")
    monkeypatch.setenv("AUTH__OPENID_CONNECT__OKTA__CLIENT_ID", "0oa1a2b3c4d5e6f7g8h9")
    monkeypatch.setenv(
        "AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL",
        "https://dev-123456.okta.com/.well-known/openid-configuration",
    )
    return sqlite_url


def _counts(storage: Storage) -> tuple[int, ...]:
    with storage.db.session() as session:
        return tuple(session.query(table).count() for table in (Team, TeamMember, TeamMemberSource))


def test_login_dry_run_shows_the_teams_and_writes_nothing(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAMS__ENGINEERING__SOURCES", '["scim:okta", "idp:okta"]')
    # A template on the login's team: the plan shows the role the login would give.
    monkeypatch.setenv(
        "SCIM__TEAM_ROLES",
        '[{"match": "eng*", "roles": ["editor"], "scope": "workspace:{displayName}"}]',
    )
    storage = Storage.open(env)
    scim = scim_service(storage, ScimSettings(), source="okta", base_url="http://t")
    user = scim.create_user(payload("okta", "scim_user"), actor="okta")["id"]
    before = _counts(storage)
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(payload("okta", "id_token")))
    result = runner.invoke(app, ["teams", "dry-run", "--login", "okta", "--claims", str(claims)])
    assert result.exit_code == 0, result.output
    assert "links this identity to the account SCIM provisioned" in result.output
    assert user in result.output
    assert "+ Engineering  (managedBy scim:okta; new team)" in result.output
    assert "+ Everyone  (managedBy idp:okta; new team)" in result.output
    assert "roles before: system: viewer\n" in result.output  # scim.defaultRoles
    assert "roles after: system: viewer; workspace:Engineering: editor" in result.output
    assert _counts(storage) == before
    assert storage.users.by_identity("okta", payload("okta", "id_token")["sub"]) is None


def test_scim_patch_dry_run_names_whose_teams_change_and_rolls_back(
    env: str, tmp_path: Path
) -> None:
    storage = Storage.open(env)
    scim = scim_service(storage, ScimSettings(), source="okta", base_url="http://t")
    user = scim.create_user(payload("okta", "scim_user"), actor="okta")["id"]
    group = scim.create_group(payload("okta", "scim_group"), actor="okta")["id"]
    patch = tmp_path / "patch.json"
    # Okta Group Push's member add (SCIM 2.0 protocol reference).
    patch.write_text(
        json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}],
            }
        )
    )
    before = _counts(storage)
    version = scim.get_group(group)["meta"]["version"]
    args = ["teams", "dry-run", "--scim", "okta", "--group", group, "--patch", str(patch)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"+ test.user@okta.local ({user})" in result.output
    assert _counts(storage) == before
    assert scim.get_group(group)["meta"]["version"] == version  # not even the version moved


def test_dry_run_needs_one_kind_of_change(env: str) -> None:
    result = runner.invoke(app, ["teams", "dry-run"])
    assert result.exit_code == 2
    assert "either --login" in result.output


def test_an_admins_membership_is_its_own_source_and_gives_the_teams_roles(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shared team fed by Okta's SCIM and by administrators: the admin's word and SCIM's
    # are kept apart, so withdrawing one leaves the other.
    monkeypatch.setenv("TEAMS__DATA__SOURCES", '["scim:okta", "local"]')
    storage = Storage.open(env)
    scim = scim_service(storage, ScimSettings(), source="okta", base_url="http://t")
    user = scim.create_user(payload("okta", "scim_user"), actor="okta")["id"]
    username = storage.users.get(user).username

    added = runner.invoke(app, ["teams", "add-member", "Data", username])
    assert added.exit_code == 0, added.output
    [team] = storage.teams.teams_of(user)
    assert (team.name, team.managed_by) == ("Data", "scim:okta")
    granted = runner.invoke(
        app, ["roles", "grant", "editor", "--team", team.id, "--scope", "workspace:w1"]
    )
    assert granted.exit_code == 0, granted.output
    effective = runner.invoke(app, ["roles", "effective", username])
    assert "workspace:w1" in effective.output and "editor" in effective.output

    # SCIM now says the same; the admin withdraws: still a member, through SCIM.
    scim.patch_group(
        scim.create_group({**payload("okta", "scim_group"), "displayName": "Data"}, actor="okta")[
            "id"
        ],
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}],
        },
        actor="okta",
    )
    removed = runner.invoke(app, ["teams", "remove-member", "Data", username])
    assert removed.exit_code == 0, removed.output
    assert "still a member through another source" in removed.output
    assert [t.id for t in storage.teams.teams_of(user)] == [team.id]


def test_adding_an_unknown_user_to_a_team_is_an_error(env: str) -> None:
    result = runner.invoke(app, ["teams", "add-member", "Data", "nobody"])
    assert result.exit_code == 1
    assert "No user 'nobody'" in result.output


def test_create_list_members_and_delete_teams(env: str) -> None:
    storage = Storage.open(env)
    ada = storage.users.create(username="ada@example.com")
    created = runner.invoke(app, ["teams", "create", "Crew", "--description", "The crew"])
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, ["teams", "create", "crew"])
    assert again.exit_code == 1 and "exists" in again.output
    assert runner.invoke(app, ["teams", "add-member", "Crew", "ada@example.com"]).exit_code == 0
    # Idempotent: the administrator's word is recorded once.
    assert runner.invoke(app, ["teams", "add-member", "Crew", "ada@example.com"]).exit_code == 0

    listed = runner.invoke(app, ["teams", "list", "--output", "json"])
    assert listed.exit_code == 0, listed.output
    [team] = json.loads(listed.stdout)["items"]
    assert (team["name"], team["managedBy"], team["memberCount"]) == ("Crew", "local", 1)
    assert team["description"] == "The crew"
    text = runner.invoke(app, ["teams", "list"]).stdout
    assert f"{team['id']}  Crew  local  1" in text

    members = runner.invoke(app, ["teams", "members", "Crew", "--output", "json"])
    assert json.loads(members.stdout)["items"] == [
        {"userId": ada.id, "username": "ada@example.com", "sources": ["local"]}
    ]
    of = runner.invoke(app, ["teams", "of", "ada@example.com", "--output", "json"])
    assert [t["id"] for t in json.loads(of.stdout)["items"]] == [team["id"]]

    deleted = runner.invoke(app, ["teams", "delete", team["id"]])
    assert deleted.exit_code == 0, deleted.output
    assert storage.teams.teams_of(ada.id) == []
    assert runner.invoke(app, ["teams", "delete", "Crew"]).exit_code == 1


def test_teams_scim_manages_are_not_deleted_from_the_command_line(env: str) -> None:
    storage = Storage.open(env)
    scim = scim_service(storage, ScimSettings(), source="okta", base_url="http://t")
    group = scim.create_group({**payload("okta", "scim_group"), "displayName": "Ops"}, actor="okta")
    refused = runner.invoke(app, ["teams", "delete", group["id"]])
    assert refused.exit_code == 1 and "managed by scim:okta" in refused.output
    listed = runner.invoke(app, ["teams", "list", "--managed-by", "scim:okta", "-o", "json"])
    assert [t["name"] for t in json.loads(listed.stdout)["items"]] == ["Ops"]
