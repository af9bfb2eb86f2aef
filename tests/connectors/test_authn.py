"""What counts as an upstream IdP's proof of a second factor (`requireMfa`), checked
against the values Entra ID and Okta document (tests/data/idp_authn/), and `maxAge`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authbridge.config.model import OidcProviderSettings
from authbridge.connectors.authn import MfaNotConfirmed, authentication_params, upstream_amr
from authbridge.connectors.errors import LoginFailed

DATA = Path(__file__).parents[1] / "data" / "idp_authn"
NOW = 1_800_000_000


def _examples(name: str) -> list[tuple[str, dict[str, Any]]]:
    document = json.loads((DATA / f"{name}.json").read_text())
    return [(name, example) for example in document["id_token_examples"]]


def _settings(**values: Any) -> OidcProviderSettings:
    return OidcProviderSettings.model_validate({"clientId": "c", "issuer": "https://idp", **values})


ACR_VALUES = {
    "entra": [],  # Entra's acr never says MFA: only amr can prove it
    "okta": json.loads((DATA / "okta.json").read_text())["recommended_connector"]["acrValues"],
}


@pytest.mark.parametrize(("idp", "example"), _examples("entra") + _examples("okta"))
def test_documented_id_tokens_prove_mfa_exactly_when_they_should(
    idp: str, example: dict[str, Any]
) -> None:
    settings = _settings(requireMfa=True, acrValues=ACR_VALUES[idp])
    claims = {k: v for k, v in example.items() if k in ("acr", "amr")}
    if example["mfa"]:
        recorded = upstream_amr("corp", settings, claims)
        assert "mfa" in recorded
        # Only RFC 8176 registered values go on into the platform's tokens.
        assert not {"ngcmfa", "wiaormfa", "fed", "rsa", "none"} & set(recorded)
    else:
        with pytest.raises(MfaNotConfirmed) as refused:
            upstream_amr("corp", settings, claims)
        assert refused.value.status == 403 and refused.value.code == "mfa_not_confirmed"
        assert "did not confirm a second factor" in refused.value.message


def test_an_acr_proves_mfa_only_under_require_mfa() -> None:
    """acrValues alone is a request: a matching acr then says nothing about factors."""
    claims = {"acr": "urn:okta:loa:1fa:any", "amr": ["pwd"]}
    settings = _settings(acrValues=["urn:okta:loa:1fa:any"])
    assert upstream_amr("corp", settings, claims) == ("pwd",)


def test_no_id_token_cannot_prove_mfa() -> None:
    with pytest.raises(MfaNotConfirmed):
        upstream_amr("cognito", _settings(requireMfa=True), None)
    assert upstream_amr("cognito", _settings(), None) == ()


@pytest.mark.parametrize(
    "amr", [["pwd"], ["otp"], ["hwk"], ["pwd", "kba"], ["pwd", "mca"], ["user", "hwk"], "mfa"]
)
def test_one_factor_or_malformed_amr_is_refused(amr: Any) -> None:
    with pytest.raises(MfaNotConfirmed):
        upstream_amr("corp", _settings(requireMfa=True), {"amr": amr})


@pytest.mark.parametrize(
    "amr", [["pwd", "otp"], ["hwk", "pin"], ["swk", "fpt"], ["face", "sms"], ["mfa"]]
)
def test_two_kinds_of_factor_prove_mfa(amr: list[str]) -> None:
    recorded = upstream_amr("corp", _settings(requireMfa=True), {"amr": amr})
    assert recorded[: len(amr)] == tuple(amr) and "mfa" in recorded


def test_request_parameters() -> None:
    assert authentication_params(_settings()) == {}
    settings = _settings(acrValues=["a", "b"], maxAge=300)
    assert authentication_params(settings) == {"acr_values": "a b", "max_age": "300"}


def test_max_age_needs_a_recent_auth_time() -> None:
    settings = _settings(maxAge=300)
    assert upstream_amr("corp", settings, {"auth_time": NOW - 300}, now=NOW) == ()
    with pytest.raises(LoginFailed) as stale:
        upstream_amr("corp", settings, {"auth_time": NOW - 301}, now=NOW)
    assert stale.value.code == "stale_authentication"
    # The clock tolerance is the only slack.
    late = {"auth_time": NOW - 310}
    assert upstream_amr("corp", settings, late, clock_tolerance=10, now=NOW) == ()
    for missing in ({}, {"auth_time": "yesterday"}, {"auth_time": True}):
        with pytest.raises(LoginFailed) as absent:
            upstream_amr("corp", settings, missing, now=NOW)
        assert absent.value.code == "no_auth_time"
