"""The seeds' configurations build the connectors and requests users were promised."""

from __future__ import annotations

from pathlib import Path

from authbridge.config import load_settings
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.presets import (
    Auth0Connector,
    CognitoConnector,
    MicrosoftConnector,
    OktaConnector,
)
from authbridge.connectors.registry import build_connectors, connector_type
from tests.conftest import make_settings

SEEDS = Path(__file__).parents[1] / "data" / "connectors" / "seeds"


def test_entra_id_seed(sqlite_url: str) -> None:
    settings = load_settings(SEEDS / "astronomer-entra-id.yaml", {"DATABASE__URL": sqlite_url})
    connectors = build_connectors(settings, env={})
    (microsoft,) = connectors.ordered
    assert isinstance(microsoft, MicrosoftConnector)
    assert microsoft.landing == "callback" and microsoft.response_type == "code"
    assert microsoft.display_name == "Microsoft"
    assert microsoft.discovery.url.startswith("https://login.microsoftonline.com/9122040d")


def test_okta_auth0_cognito_seed(sqlite_url: str) -> None:
    settings = load_settings(
        SEEDS / "astronomer-okta-auth0-cognito.yaml", {"DATABASE__URL": sqlite_url}
    )
    connectors = build_connectors(settings, env={})
    okta, auth0, cognito = connectors.ordered
    assert isinstance(okta, OktaConnector) and okta.response_type == "id_token token"
    assert okta.landing == "redirect"  # the seeds' default flow is implicit
    assert isinstance(auth0, Auth0Connector)
    assert auth0.discovery.url == "https://astronomer.auth0.com/.well-known/openid-configuration"
    assert isinstance(cognito, CognitoConnector) and cognito.response_type == "token"
    assert [c.display_name for c in connectors.ordered] == ["Okta", "Auth0", "Amazon Cognito"]
    assert not connectors.mock_enabled


def test_types_by_name_and_explicit_type() -> None:
    assert connector_type("okta", None) is OktaConnector
    assert connector_type("corp-sso", None) is OidcConnector
    assert connector_type("corp-sso", "microsoft") is MicrosoftConnector


def test_an_unknown_type_disables_only_that_button(sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url,
        AUTH__OPENID_CONNECT__CORP__ENABLED="true",
        AUTH__OPENID_CONNECT__CORP__TYPE="octa",
        AUTH__OPENID_CONNECT__CORP__CLIENT_ID="x",
        AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL="https://idp.example.com",
    )
    (corp,) = build_connectors(settings, env={}).ordered
    assert corp.problem() == "This identity provider is not configured correctly."
    assert isinstance(corp, OidcConnector) and "'octa'" in str(corp.config_error.hint)
