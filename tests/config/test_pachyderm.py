"""Pachyderm's `oidc.upstreamIDPs` (Dex connectors) as the seed page writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authbridge.config import ConfigError, load_settings

SEEDS = Path(__file__).parent.parent / "data" / "seeds" / "pachyderm"
CONFIG: dict[str, Any] = {
    "issuer": "https://trial-1839456.okta.com/",
    "clientID": "0oa74mh2scJf29qOD697",
    "clientSecret": "s3cret",
    "redirectURI": "https://console.pachdemo.com/dex/callback",
}
ENTRY: dict[str, Any] = {"type": "oidc", "id": "okta", "name": "Okta", "config": CONFIG}


def _write(tmp_path: Path, data: object, name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _issues(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("name", ["okta-upstream-idps.yaml", "okta-upstream-idps.json"])
def test_seed_okta_examples_load_as_written(name: str) -> None:
    settings = load_settings(SEEDS / name, {})
    oidc = settings.auth.openid_connect
    assert oidc.flow == "code"  # Dex's oidc connector is a code-flow client
    okta = oidc.providers["okta"]
    assert okta.enabled and okta.display_name == "Okta"
    assert okta.client_id == "0oa74mh2scJf29qOD697"
    assert okta.client_secret == "VNwbzOBltNcaotD2CU5iRyTuqOPpwLR-RC16ai7wakta95W00p7X5HYkEgS_5UWH"
    # Dex matches the issuer exactly; the discovery URL is derived from it.
    assert okta.issuer == okta.discovery_url == "https://trial-1839456.okta.com/"
    assert okta.redirect_uri == "https://console.pachdemo.com/dex/callback"
    assert okta.insecure_enable_groups and okta.insecure_skip_email_verified
    assert not okta.insecure_skip_issuer_callback_domain_check


@pytest.mark.parametrize("as_json", [False, True])
def test_upstream_idps_given_as_a_string(tmp_path: Path, as_json: bool) -> None:
    # The chart's values take the list as a string too (`upstreamIDPs: |`).
    text = json.dumps([ENTRY]) if as_json else json.dumps([ENTRY]).replace('"', "'")
    path = _write(tmp_path, {"oidc": {"upstreamIDPs": text}})
    assert load_settings(path, {}).auth.openid_connect.providers["okta"].client_secret == "s3cret"


def test_upstream_idps_from_the_named_secret(tmp_path: Path) -> None:
    mounted = tmp_path / "secrets" / "pachyderm-idps"
    mounted.mkdir(parents=True)
    (mounted / "upstream-idps").write_text(
        "- type: github\n  id: github\n  name: GitHub\n  config:\n"
        "    clientID: gh-1\n    clientSecret: gh-s\n"
        "    redirectURI: https://console.pachdemo.com/dex/callback\n"
        "    orgs:\n    - name: pachyderm\n    loadAllGroups: false\n"
    )
    path = _write(tmp_path, {"oidc": {"upstreamIDPsSecretName": "pachyderm-idps"}})
    settings = load_settings(path, {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path / "secrets")})
    github = settings.auth.github
    assert github.enabled and github.client_id == "gh-1" and github.client_secret == "gh-s"
    assert github.allowed_organizations == ["pachyderm"]
    assert github.redirect_uri == "https://console.pachdemo.com/dex/callback"


def test_missing_secret_names_the_file_to_mount(tmp_path: Path) -> None:
    path = _write(tmp_path, {"oidc": {"upstreamIDPsSecretName": "idps"}})
    (issue,) = _issues(path, {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path)})
    assert issue.startswith("oidc.upstreamIDPsSecretName: cannot read ")
    assert f"{tmp_path}/idps/upstream-idps" in issue


def test_unexpected_version_field_is_named(tmp_path: Path) -> None:
    # The seed's troubleshooting case: `version` in an upstreamIDPs entry crash-loops pachd.
    path = _write(
        tmp_path, {"oidc": {"upstreamIDPs": [ENTRY, {**ENTRY, "id": "okta2", "version": "v1"}]}}
    )
    (issue,) = _issues(path)
    assert issue.startswith("oidc.upstreamIDPs[1].version: unexpected field")


def test_an_entry_of_the_secret_is_named_by_the_secret(tmp_path: Path) -> None:
    (tmp_path / "idps").mkdir()
    (tmp_path / "idps" / "upstream-idps").write_text(json.dumps([{**ENTRY, "version": "v1"}]))
    path = _write(tmp_path, {"oidc": {"upstreamIDPsSecretName": "idps"}})
    (issue,) = _issues(path, {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path)})
    assert issue.startswith("secret idps/upstream-idps[0].version: unexpected field")


def test_unsupported_dex_keys_are_refused_by_path(tmp_path: Path) -> None:
    config = {**CONFIG, "basicAuthUnsupported": True, "getUserInfo": False, "clientID": 7}
    entries = [
        {**ENTRY, "config": config},
        {"type": "authproxy", "id": "proxy", "config": {}},
        {"type": "ldap", "id": "corp", "config": {}},
    ]
    issues = _issues(_write(tmp_path, {"oidc": {"upstreamIDPs": entries}}))
    unsupported = "Dex key not supported by authbridge yet"
    assert f"oidc.upstreamIDPs[0].config.basicAuthUnsupported: {unsupported}" in issues
    assert "oidc.upstreamIDPs[0].config.getUserInfo: only True is supported (got False)" in issues
    assert any(
        i.startswith("oidc.upstreamIDPs[1].type: connector type 'authproxy'") for i in issues
    )
    assert any(i.startswith("oidc.upstreamIDPs[0].config.clientID: ") for i in issues)
    # An ldap entry is supported (tests/config/test_ldap.py); its missing keys are named.
    assert "oidc.upstreamIDPs[2].config.host: Field required" in issues


def test_redirect_uri_must_be_a_path_authbridge_serves(tmp_path: Path) -> None:
    config = {**CONFIG, "redirectURI": "https://console.pachdemo.com/callback"}
    (issue,) = _issues(_write(tmp_path, {"oidc": {"upstreamIDPs": [{**ENTRY, "config": config}]}}))
    assert issue.startswith("oidc.upstreamIDPs[0].config.redirectURI: must be an http(s) URL")


def test_claim_keys_map_to_claims_mapping(tmp_path: Path) -> None:
    config = {
        **CONFIG,
        "userIDKey": "email",
        "userNameKey": "nickname",
        "claimMapping": {"preferred_username": "login", "groups": "roles"},
        "promptType": "login",
        "getUserInfo": True,
        "scopes": ["openid", "groups"],
    }
    path = _write(tmp_path, {"oidc": {"upstreamIDPs": [{**ENTRY, "config": config}]}})
    okta = load_settings(path, {}).auth.openid_connect.providers["okta"]
    assert okta.claims_mapping == {
        "sub": "email",
        "name": "nickname",
        "preferred_username": "login",
        "groups": "roles",
    }
    assert okta.auth_url_params == {"prompt": "login"}
    assert okta.scopes == ["openid", "groups"]


def test_other_oidc_keys_are_reported_not_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path, {"oidc": {"upstreamIDPs": [ENTRY], "issuerURI": "http://x"}})
    (issue,) = _issues(path)
    assert issue.startswith("oidc.issuerURI: not read by authbridge")


def test_dex_acr_values_are_sent_upstream(tmp_path: Path) -> None:
    entry = {**ENTRY, "config": {**CONFIG, "acrValues": ["urn:okta:loa:2fa:any"]}}
    path = _write(tmp_path, {"oidc": {"upstreamIDPs": [entry]}})
    okta = load_settings(path, {}).auth.openid_connect.providers["okta"]
    assert okta.acr_values == ["urn:okta:loa:2fa:any"] and not okta.require_mfa
