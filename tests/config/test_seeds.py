"""The seeds' configuration blocks, copied with placeholders filled, load as written.

Each file under tests/data/seeds/<product>/ is an example from ../shared/seeds/ byte for
byte except its placeholders; `load_settings` is what `authbridge config check` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from authbridge.config import load_settings

SEEDS = Path(__file__).parent.parent / "data" / "seeds"
ASTRONOMER = SEEDS / "astronomer"


def test_generic_oidc_example_with_empty_auth_url_params_loads() -> None:
    # `authUrlParams:` with nothing under it is YAML null; it means "no extra parameters".
    settings = load_settings(ASTRONOMER / "generic-oidc.yaml", {})
    provider = settings.auth.openid_connect.providers["keycloak"]
    assert provider.enabled and provider.client_id == "keycloak-client"
    assert provider.auth_url_params == {}
    assert settings.auth.openid_connect.clock_tolerance == 0


def test_null_list_and_section_take_their_defaults(tmp_path: Path) -> None:
    # One rule for every non-scalar key: null is "not given".
    path = tmp_path / "values.yaml"
    path.write_text(
        "auth:\n  openidConnect:\n    okta:\n      scopes:\nscim:\n  teamRoles:\nlogging:\n"
    )
    settings = load_settings(path, {})
    assert settings.auth.openid_connect.providers["okta"].scopes == ["openid", "profile", "email"]
    assert settings.scim.team_roles == []


@pytest.mark.parametrize(
    ("name", "provider", "client_id"),
    [
        ("entra.yaml", "microsoft", "0f9d8c7b-entra-client"),
        ("okta.yaml", "okta", "0oa1okta"),
        ("auth0.yaml", "auth0", "auth0-default-app"),
        ("cognito.yaml", "cognito", "cognito-client"),
        ("generic-oidc.yaml", "keycloak", "keycloak-client"),
        ("proxy-env.yaml", "okta", "0oa1okta"),
    ],
)
def test_astronomer_provider_examples_load(name: str, provider: str, client_id: str) -> None:
    settings = load_settings(ASTRONOMER / name, {})
    block = settings.auth.openid_connect.providers[provider]
    assert block.enabled and block.client_id == client_id


def test_astronomer_local_and_custom_flow_examples_load() -> None:
    assert load_settings(ASTRONOMER / "local.yaml", {}).auth.local.enabled
    custom = load_settings(ASTRONOMER / "custom-flow.yaml", {})
    assert custom.auth.openid_connect.flow == "code" and custom.auth.local.enabled
