"""`auth.saml.<name>` and Dex `type: saml` entries in Pachyderm's `oidc.upstreamIDPs`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authbridge.config import ConfigError, load_settings

# Dex's documented saml connector example (connectors/saml.md), keys as Dex spells them.
DEX_CONFIG: dict[str, Any] = {
    "ssoURL": "https://saml.example.com/sso",
    "ca": "/path/to/ca.pem",
    "entityIssuer": "https://dex.example.com/callback",
    "ssoIssuer": "https://saml.example.com/sso",
    "redirectURI": "https://dex.example.com/v1/saml/acs/corp",
    "usernameAttr": "name",
    "emailAttr": "email",
    "groupsAttr": "groups",
    "groupsDelim": ", ",
    "allowedGroups": ["engineers"],
    "filterGroups": True,
    "nameIDPolicyFormat": "persistent",
}


def _load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_settings(path, {})


def _issues(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, data)
    return [str(issue) for issue in caught.value.issues]


def test_dex_saml_entry_becomes_auth_saml(tmp_path: Path) -> None:
    entry = {"type": "saml", "id": "corp", "name": "Corp SSO", "config": DEX_CONFIG}
    settings = _load(tmp_path, {"oidc": {"upstreamIDPs": [entry]}})
    saml = settings.auth.saml["corp"]
    assert saml.display_name == "Corp SSO"
    assert saml.sso_url == "https://saml.example.com/sso"
    assert saml.ca == "/path/to/ca.pem"
    assert saml.redirect_uri == "https://dex.example.com/v1/saml/acs/corp"
    assert saml.groups_delim == ", "
    assert saml.name_id_format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def test_native_block_accepts_dex_spellings(tmp_path: Path) -> None:
    settings = _load(tmp_path, {"auth": {"saml": {"corp": DEX_CONFIG}}})
    assert settings.auth.saml["corp"].entity_issuer == "https://dex.example.com/callback"


def test_skipping_signatures_needs_a_second_explicit_flag(tmp_path: Path) -> None:
    insecure = {**DEX_CONFIG, "insecureSkipSignatureValidation": True}
    issues = _issues(tmp_path, {"auth": {"saml": {"corp": insecure}}})
    assert any("insecureAcceptUnsignedAssertions" in issue for issue in issues), issues
    entry = {"type": "saml", "id": "corp", "config": insecure}
    issues = _issues(tmp_path, {"oidc": {"upstreamIDPs": [entry]}})
    assert any(i.startswith("oidc.upstreamIDPs[0]") for i in issues), issues
    both = {**insecure, "insecureAcceptUnsignedAssertions": True}
    assert _load(tmp_path, {"auth": {"saml": {"corp": both}}}).auth.saml["corp"]


def test_an_idp_must_be_named_somehow(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"auth": {"saml": {"corp": {"ssoURL": "https://idp/sso"}}}})
    assert any("metadataUrl or metadataFile" in issue for issue in issues), issues


def test_a_misspelt_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"auth": {"saml": {"corp": {**DEX_CONFIG, "groupAttr": "g"}}}})
    assert any("auth.saml.corp.groupAttr" in i and "groupsAttr" in i for i in issues), issues


def test_an_unknown_dex_saml_key_is_refused_by_path(tmp_path: Path) -> None:
    entry = {"type": "saml", "id": "corp", "config": {**DEX_CONFIG, "ssoURLx": "x"}}
    issues = _issues(tmp_path, {"oidc": {"upstreamIDPs": [entry]}})
    assert any(i.startswith("oidc.upstreamIDPs[0].config.ssoURLx") for i in issues), issues


def test_redirect_uri_must_be_our_acs(tmp_path: Path) -> None:
    dex_callback = {**DEX_CONFIG, "redirectURI": "https://dex.example.com/dex/callback"}
    issues = _issues(tmp_path, {"auth": {"saml": {"corp": dex_callback}}})
    assert any("auth.saml.corp" in i and "/v1/saml/acs/" in i for i in issues), issues


def test_saml_ids_share_the_connector_namespace(tmp_path: Path) -> None:
    data = {
        "auth": {
            "saml": {"okta": DEX_CONFIG, "bad/id": DEX_CONFIG},
            "openidConnect": {"okta": {"enabled": True, "clientId": "x"}},
        }
    }
    issues = _issues(tmp_path, data)
    assert any("'okta' is also" in i for i in issues), issues
    assert any("'bad/id'" in i for i in issues), issues
