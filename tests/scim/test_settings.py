"""The `scim:` settings section from a file and from the environment."""

from __future__ import annotations

from pathlib import Path

from authbridge.config import load_settings
from authbridge.config.loader import masked


def test_scim_section_from_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "scim:\n"
        "  teamRoles:\n"
        "    - {match: platform-admins, roles: [admin]}\n"
        "    - {match: 'data-*', roles: [editor]}\n"
        "  okta: {connectorId: okta-sso}\n"
        # A role named anywhere must exist: built in, or defined here.
        "roles:\n  reader: {permissions: [resources.read]}\n"
    )
    settings = load_settings(
        config,
        {
            "SCIM__MICROSOFT__AUTH_CODE": "token-from-env",
            "SCIM__DEFAULT_ROLES": '["viewer", "reader"]',
        },
    )
    assert [(r.match, r.roles) for r in settings.scim.team_roles] == [
        ("platform-admins", ["admin"]),
        ("data-*", ["editor"]),
    ]
    assert settings.scim.okta.connector_id == "okta-sso"
    assert settings.scim.microsoft.auth_code == "token-from-env"
    assert settings.scim.default_roles == ["viewer", "reader"]
    # The credential is a secret: never shown by `authbridge config` output.
    assert masked(settings)["scim"]["microsoft"]["authCode"] == "********"


def test_team_roles_from_one_environment_variable() -> None:
    settings = load_settings(
        None, {"SCIM__TEAM_ROLES": '[{"match": "data-*", "roles": ["editor"]}]'}
    )
    assert settings.scim.team_roles[0].roles == ["editor"]
