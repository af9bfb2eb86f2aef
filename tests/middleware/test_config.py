"""Configuration: Python dataclasses and the OpenMetadata-like mapping."""

from __future__ import annotations

import pytest

from authbridge.middleware import (
    AUTHBRIDGE_JWKS_PATH,
    ConfigError,
    InvalidToken,
    IssuerTrust,
    Reason,
    TokenKind,
    TokenTypeRule,
    TokenVerifier,
    VerifierConfig,
)

from .conftest import FakeClock, JwksServer
from .forge import Signer, access_claims, at_header, compact

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
        # no audience for the authority's tokens (authbridge's default to its issuer URL)
        {"publicKeys": [f"{OM}/api/v1/system/config/jwks", f"{OKTA}/v1/keys"], "authority": OKTA},
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


def test_openmetadata_public_keys_trust_each_issuer_with_its_own_audience(
    signers: dict[str, Signer], clock: FakeClock
) -> None:
    """OpenMetadata's Okta example lists authbridge's JWKS and the IdP's under one
    `clientId`: authbridge's tokens carry authbridge's audience (its issuer URL by default),
    the IdP's carry `clientId`. Each is accepted with its own audience only."""
    own, idp = JwksServer(), JwksServer()
    own.document = {"keys": [signers["ES256"].jwk()]}
    idp.document = {"keys": [signers["RS256"].jwk()]}
    own_issuer = own.url.removesuffix(AUTHBRIDGE_JWKS_PATH)
    idp_issuer = f"http://127.0.0.1:{idp.port}/oauth2/default"
    try:
        config = VerifierConfig.from_mapping(
            {
                "clientType": "public",
                "provider": "okta",
                "publicKeys": [own.url, f"{idp_issuer}/v1/keys"],
                "authority": idp_issuer,
                "clientId": "0oa-client",
                "callbackUrl": "http://localhost:8585/callback",
                "clockTolerance": 0,
            }
        )
        verifier = TokenVerifier(config, clock=clock)

        def own_token(aud: str) -> str:
            claims = access_claims(iss=own_issuer, aud=aud)
            return compact(at_header(signers["ES256"]), claims, signers["ES256"])

        def idp_token(aud: str) -> str:
            claims = access_claims(iss=idp_issuer, aud=aud)
            return compact(at_header(signers["RS256"]), claims, signers["RS256"])

        assert verifier.verify(own_token(own_issuer)).claims["iss"] == own_issuer
        assert verifier.verify(idp_token("0oa-client")).claims["iss"] == idp_issuer
        for token in (own_token("0oa-client"), idp_token(own_issuer)):
            with pytest.raises(InvalidToken) as info:
                verifier.verify(token)
            assert info.value.reason is Reason.WRONG_AUDIENCE
    finally:
        own.close()
        idp.close()


def test_own_audiences_can_be_named(signers: dict[str, Signer]) -> None:
    config = VerifierConfig.from_mapping(
        {
            "publicKeys": [f"{OM}/api/v1/system/config/jwks", f"{OKTA}/v1/keys"],
            "authority": OKTA,
            "clientId": "0oa123",
            "ownAudiences": ["api://platform"],
        }
    )
    by_issuer = {t.issuer: t for t in config.issuers}
    assert by_issuer[OM].audiences == ("api://platform",)
    assert by_issuer[OKTA].audiences == ("0oa123",)
