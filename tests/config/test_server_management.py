"""The management listener's keys (`server.managementPort`/`managementHost`) and the
shutdown grace period: defaults, errors named by path, the host following `server.host`."""

from __future__ import annotations

import pytest

from authbridge.config import ConfigError, Settings, load_settings


def test_off_by_default_and_the_host_follows_the_listener() -> None:
    server = Settings().server
    assert server.management_port is None and server.shutdown_grace_period == 25
    # Kubernetes probes and scrapes reach the pod IP: the default is the public bind address.
    assert server.management_address == server.host == "0.0.0.0"
    moved = load_settings(None, {"SERVER__HOST": "10.0.0.5", "SERVER__MANAGEMENT_PORT": "9000"})
    assert (moved.server.management_address, moved.server.management_port) == ("10.0.0.5", 9000)
    pinned = load_settings(
        None, {"SERVER__MANAGEMENT_PORT": "9000", "SERVER__MANAGEMENT_HOST": "127.0.0.1"}
    )
    assert pinned.server.management_address == "127.0.0.1"


def test_the_management_port_cannot_be_the_public_one() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"SERVER__MANAGEMENT_PORT": "8080"})
    assert "managementPort 8080 is server.port too" in str(refused.value)
    with pytest.raises(ValueError, match="port of its own"):
        Settings.model_validate({"server": {"managementPort": 9000}}).server.listening_on(
            None, 9000
        )


def test_telemetry_endpoint_must_be_a_url() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"TELEMETRY__OTLP_ENDPOINT": "collector:4318"})
    assert "telemetry.otlpEndpoint" in str(refused.value)


def test_require_mfa_is_refused_where_nothing_can_prove_it() -> None:
    """GitHub issues no ID token; an implicit flow answering with an access token only has
    none either: `requireMfa` there is an error naming its path, never a silent no-op."""
    with pytest.raises(ConfigError) as github:
        load_settings(None, {"AUTH__GITHUB__ENABLED": "true", "AUTH__GITHUB__REQUIRE_MFA": "true"})
    assert "auth.github.requireMfa" in str(github.value)
    assert "no ID token" in str(github.value)
    with pytest.raises(ConfigError) as cognito:
        load_settings(
            None,
            {
                "AUTH__OPENID_CONNECT__COGNITO__CLIENT_ID": "c",
                "AUTH__OPENID_CONNECT__COGNITO__REQUIRE_MFA": "true",
            },
        )
    assert "auth.openidConnect.cognito.requireMfa" in str(cognito.value)
    # The code flow gets an ID token from the token endpoint: fine.
    settings = load_settings(
        None,
        {
            "AUTH__OPENID_CONNECT__FLOW": "code",
            "AUTH__OPENID_CONNECT__COGNITO__CLIENT_ID": "c",
            "AUTH__OPENID_CONNECT__COGNITO__REQUIRE_MFA": "true",
            "AUTH__OPENID_CONNECT__COGNITO__ACR_VALUES": '["urn:x"]',
            "AUTH__OPENID_CONNECT__COGNITO__MAX_AGE": "600",
        },
    )
    cognito_settings = settings.auth.openid_connect.providers["cognito"]
    assert cognito_settings.require_mfa and cognito_settings.acr_values == ["urn:x"]
    assert cognito_settings.max_age == 600


def test_acr_values_are_single_tokens() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"AUTH__OPENID_CONNECT__CORP__ACR_VALUES": '["two words"]'})
    assert "auth.openidConnect.corp.acrValues" in str(refused.value)
