"""Role settings checked at load time: every problem named by its path, with a suggestion;
an unknown role in `scim.teamRoles`/`scim.defaultRoles` is an error, never created."""

from __future__ import annotations

from pathlib import Path

import pytest

from authbridge.config import ConfigError, load_settings


def _load(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    return [str(issue) for issue in caught.value.issues]


def test_roles_and_templates_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "roles:\n  deployer:\n    description: Deploys\n    permissions: [deployments.create]\n"
        "scim:\n  defaultRoles: [viewer]\n  teamRoles:\n"
        "    - {match: 'ws-*', roles: [deployer], scope: 'workspace:{displayName}'}\n"
        "    - {match: admins, roles: [admin]}\n"
    )
    settings = load_settings(path, {})
    assert settings.roles["deployer"].permissions == ["deployments.create"]
    assert [r.scope for r in settings.scim.team_roles] == ["workspace:{displayName}", "system"]


def test_every_role_problem_is_named_by_its_path(tmp_path: Path) -> None:
    issues = _load(
        tmp_path,
        "roles:\n"
        "  admin: {description: mine}\n"
        "  deployer:\n    permisions: [x]\n    permissions: ['has space']\n"
        "scim:\n  defaultRoles: [veiwer]\n  teamRoles:\n"
        "    - {match: a, roles: [editr]}\n"
        "    - {match: b, roles: [viewer], scope: '{displayName}'}\n"
        "    - {match: c, roles: [viewer], scope: 'workspace:{name}'}\n",
    )
    assert issues == [
        "roles.deployer.permisions: unknown key; did you mean roles.deployer.permissions?",
        "roles.admin: is a built-in role; give your role another name",
        "roles.deployer.permissions.0: 'has space' is not a permission name such as "
        "resources.write",
        "scim.defaultRoles.0: unknown role 'veiwer' (roles are admin, deployer, editor, "
        "viewer; define others under roles.<name>); did you mean viewer?",
        "scim.teamRoles.0.roles.0: unknown role 'editr' (roles are admin, deployer, editor, "
        "viewer; define others under roles.<name>); did you mean editor?",
        "scim.teamRoles.1.scope: '{displayName}' is not a scope: use system or <kind>:<id> "
        "such as workspace:{displayName}",
        "scim.teamRoles.2.scope: {name} is not a team attribute; use one of {displayName}, "
        "{externalId}, {id}",
    ]
