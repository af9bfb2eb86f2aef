"""Configuration: Python dataclasses and the OpenMetadata-like mapping."""

from __future__ import annotations

import pytest

from authbridge.middleware import (
    ConfigError,
    IssuerTrust,
    TokenKind,
    TokenTypeRule,
    VerifierConfig,
)

OM = "https://om.example.com"
OKTA = "https://example.okta.com/oauth2/default"


def test_openmetadata_mapping_splits_keys_per_issuer() -> None:
    config = VerifierConfig.from_mapping(
        {
            "publicKeys": [f"{OM}/api/v1/system/config/jwks", f"{OKTA}/v1/keys"],
            "authority": OKTA,
            "principalDomain": "example.com",
            "clientId": "0oa123",
            "tokenType": "id",
            "clockTolerance": 30,
        }
    )
    by_issuer = {t.issuer: t for t in config.issuers}
    assert by_issuer[OM].jwks_urls == (f"{OM}/api/v1/system/config/jwks",)
    assert by_issuer[OM].token_type == TokenTypeRule.rfc9068()
    assert by_issuer[OKTA].jwks_urls == (f"{OKTA}/v1/keys",)
    assert by_issuer[OKTA].token_type.kind is TokenKind.ID
    assert by_issuer[OKTA].algorithms == ("RS256",)
    assert by_issuer[OKTA].audiences == ("0oa123",)
    assert by_issuer[OKTA].principal_domains == ("example.com",)
    assert by_issuer[OKTA].clock_tolerance == 30


def test_explicit_issuers_form() -> None:
    config = VerifierConfig.from_mapping(
        {
            "issuers": [
                {
                    "issuer": OKTA,
                    "publicKeys": [f"{OKTA}/v1/keys"],
                    "audiences": ["api://default"],
                    "tokenType": "access",
                    "requiredScopes": ["dags"],
                }
            ],
            "jwks": {"cooldown": 10, "staleWindow": 120},
        }
    )
    (trust,) = config.issuers
    assert trust.required_scopes == ("dags",)
    assert trust.token_type == TokenTypeRule.idp_access()
    assert config.jwks.cooldown == 10 and config.jwks.stale_window == 120


@pytest.mark.parametrize(
    "mapping",
    [
        {"publicKeys": [f"{OKTA}/v1/keys"], "audiences": ["a"]},  # no authority
        {"publicKeys": [f"{OM}/api/v1/system/config/jwks"]},  # no audience
        {"publicKeys": ["http://evil.example/jwks"], "authority": OKTA, "audiences": ["a"]},
        {
            "publicKeys": [f"{OKTA}/v1/keys"],
            "authority": OKTA,
            "audiences": ["a"],
            "algorithms": ["HS256"],
        },
        {
            "publicKeys": [f"{OKTA}/v1/keys"],
            "authority": OKTA,
            "audiences": ["a"],
            "algorithms": ["none"],
        },
        {
            "publicKeys": [f"{OKTA}/v1/keys"],
            "authority": OKTA,
            "audiences": ["a"],
            "tokenType": "refresh",
        },
        {},
    ],
)
def test_unsound_configuration_is_refused(mapping: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        VerifierConfig.from_mapping(mapping)


def test_http_jwks_only_on_loopback_or_opt_in() -> None:
    trust = IssuerTrust("https://i", ("http://127.0.0.1:8080/jwks",), ("a",))
    VerifierConfig((trust,))
    internal = IssuerTrust("https://i", ("http://openmetadata:8585/jwks",), ("a",))
    with pytest.raises(ConfigError):
        VerifierConfig((internal,))
    VerifierConfig((internal,), allow_insecure_http=True)
