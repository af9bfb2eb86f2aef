"""LDAP connectors in configuration: authbridge's `auth.ldap.<id>` and a Dex `type: ldap`
entry of Pachyderm's `oidc.upstreamIDPs`, both in Dex's keys (config/ldap.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from authbridge.config import ConfigError, load_settings
from authbridge.config.ldap import LdapSettings
from authbridge.connectors.registry import build_connectors

# Dex's documented example (connector/ldap/ldap.go), as an operator would paste it.
DEX: dict[str, Any] = {
    "host": "ldap.example.com:636",
    "rootCA": "/etc/dex/ldap.ca",
    "bindDN": "uid=serviceaccount,cn=users,dc=example,dc=com",
    "bindPW": "password",
    "usernamePrompt": "Email Address",
    "userSearch": {
        "baseDN": "cn=users,dc=example,dc=com",
        "filter": "(objectClass=person)",
        "username": ["uid", "mail"],
        "idAttr": "uid",
        "emailAttr": "mail",
        "nameAttr": "name",
        "preferredUsernameAttr": "uid",
    },
    "groupSearch": {
        "baseDN": "cn=groups,dc=example,dc=com",
        "filter": "(|(objectClass=posixGroup)(objectClass=groupOfNames))",
        "userMatchers": [
            {"userAttr": "uid", "groupAttr": "memberUid"},
            {"userAttr": "DN", "groupAttr": "member"},
        ],
        "nameAttr": "name",
    },
}
ENTRY = {"type": "ldap", "id": "corp", "name": "Corp directory", "config": DEX}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(data))
    return path


def _issues(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return [str(issue) for issue in caught.value.issues]


def test_a_dex_ldap_entry_becomes_an_ldap_connector(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, {"oidc": {"upstreamIDPs": [ENTRY]}}), {})
    corp = settings.auth.ldap["corp"]
    assert corp.enabled and corp.display_name == "Corp directory"
    assert corp.host == "ldap.example.com:636" and corp.root_ca == "/etc/dex/ldap.ca"
    assert corp.bind_dn == DEX["bindDN"] and corp.bind_pw == "password"
    assert corp.username_prompt == "Email Address"
    assert corp.user_search.username == ["uid", "mail"]
    assert corp.user_search.preferred_username_attr == "uid"
    assert [(m.user_attr, m.group_attr) for m in corp.group_search.user_matchers] == [
        ("uid", "memberUid"),
        ("DN", "member"),
    ]
    # Its email is not taken as verified unless the operator says so (unlike Dex).
    assert corp.insecure_skip_email_verified is False
    connectors = build_connectors(settings, {})
    try:
        assert [c.id for c in connectors.passwords] == ["corp"]
        assert connectors.ordered == []  # no mock IdP: an upstream is configured
    finally:
        connectors.close()


def test_authbridge_own_block_takes_the_same_keys_and_a_secret_from_the_environment(
    tmp_path: Path,
) -> None:
    block = {**DEX, "bindPW": None}
    block.pop("bindPW")
    path = _write(tmp_path, {"auth": {"ldap": {"corp": {**block, "bindDN": DEX["bindDN"]}}}})
    settings = load_settings(path, {"AUTH__LDAP__CORP__BIND_PW": "from-env"})
    assert settings.auth.ldap["corp"].bind_pw == "from-env"


def test_username_may_be_one_attribute() -> None:
    config = {**DEX, "userSearch": {**DEX["userSearch"], "username": "uid"}}
    assert LdapSettings.model_validate(config).user_search.username == ["uid"]


def test_root_ca_data_is_base64_as_dex_takes_it() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    encoded = base64.b64encode(pem.encode()).decode()
    assert LdapSettings.model_validate({**DEX, "rootCAData": encoded}).root_ca_data == pem
    assert LdapSettings.model_validate({**DEX, "rootCAData": pem}).root_ca_data == pem
    with pytest.raises(ValueError, match="PEM"):
        LdapSettings.model_validate({**DEX, "rootCAData": "bm90IGEgY2VydA=="})


@pytest.mark.parametrize(
    ("change", "path", "said"),
    [
        (
            {"userSearch": {**DEX["userSearch"], "filter": "objectClass=person"}},
            "config.userSearch.filter",
            "not an LDAP filter",
        ),
        (
            {"userSearch": {**DEX["userSearch"], "filter": "(objectClass=person"}},
            "config.userSearch.filter",
            "not an LDAP filter",
        ),
        (
            {"userSearch": {**DEX["userSearch"], "idAttr": "uid)(cn=*"}},
            "config.userSearch.idAttr",
            "not an LDAP attribute name",
        ),
        (
            {"userSearch": {**DEX["userSearch"], "username": ["uid", "mail=*"]}},
            "config.userSearch.username",
            "not an LDAP attribute name",
        ),
        ({"startTLS": True, "insecureNoSSL": True}, "config", "contradict"),
        ({"bindPW": ""}, "config", "unauthenticated bind"),
        ({"host": "ldaps://ldap.example.com"}, "config.host", "without a scheme"),
        (
            {"groupSearch": {"baseDN": "dc=x", "userMatchers": []}},
            "config.groupSearch",
            "userMatchers is empty",
        ),
        ({"userSearch": {**DEX["userSearch"], "scope": "base"}}, "config.userSearch.scope", ""),
        ({"clientCert": "/etc/cert.pem"}, "config.clientCert", "not supported by authbridge"),
        (
            {
                "groupSearch": {
                    **DEX["groupSearch"],
                    "userMatchers": [
                        {"userAttr": "DN", "groupAttr": "member", "recursionGroupAttr": "memberOf"}
                    ],
                }
            },
            "config.groupSearch.userMatchers.0.recursionGroupAttr",
            "not supported by authbridge",
        ),
    ],
)
def test_a_wrong_value_is_named_at_its_entry_path(
    tmp_path: Path, change: dict[str, Any], path: str, said: str
) -> None:
    entry = {**ENTRY, "config": {**DEX, **change}}
    issues = _issues(_write(tmp_path, {"oidc": {"upstreamIDPs": [entry]}}))
    assert any(i.startswith(f"oidc.upstreamIDPs[0].{path}:") and said in i for i in issues), issues
    assert not any("password" in i and "bindPW" in i and "got" in i for i in issues)


def test_connector_ids_are_one_namespace(tmp_path: Path) -> None:
    okta = {"enabled": True, "clientId": "x", "discoveryUrl": "https://okta.example.com"}
    path = _write(
        tmp_path,
        {"auth": {"openidConnect": {"corp": okta}, "ldap": {"corp": DEX, "mock": DEX}}},
    )
    issues = " ".join(_issues(path))
    assert "'corp' is also an auth.openidConnect" in issues
    assert "'mock' is a reserved" in issues


def test_an_unknown_key_in_authbridge_block_is_suggested(tmp_path: Path) -> None:
    path = _write(tmp_path, {"auth": {"ldap": {"corp": {**DEX, "bindDn2": "x"}}}})
    issues = _issues(path)
    assert any("auth.ldap.corp.bindDn2" in i and "bindDN" in i for i in issues), issues


def test_a_disabled_block_offers_no_form(tmp_path: Path) -> None:
    path = _write(tmp_path, {"auth": {"ldap": {"corp": {**DEX, "enabled": False}}}})
    connectors = build_connectors(load_settings(path, {}), {})
    try:
        assert connectors.passwords == [] and connectors.mock_enabled
    finally:
        connectors.close()


def test_the_service_password_is_masked_where_settings_are_shown(tmp_path: Path) -> None:
    from authbridge.config.loader import masked

    settings = load_settings(_write(tmp_path, {"oidc": {"upstreamIDPs": [ENTRY]}}), {})
    assert masked(settings)["auth"]["ldap"]["corp"]["bindPW"] == "********"
