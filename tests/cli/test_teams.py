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
