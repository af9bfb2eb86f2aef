"""Pachyderm's Helm `oidc:` section: Dex `upstreamIDPs` turned into authbridge's own blocks.

Pachyderm configures sign-in as a list of Dex connectors (`{type, id, name, config}`),
given in `oidc.upstreamIDPs` as a YAML list or as a YAML/JSON string, or in the Kubernetes
Secret named by `oidc.upstreamIDPsSecretName` (key `upstream-idps`, mounted at
`$AUTHBRIDGE_SECRETS_DIR/<secretName>/upstream-idps`). Each `oidc` entry becomes
`auth.openidConnect.<id>`, a `github` entry `auth.github`, an `ldap` entry
`auth.ldap.<id>` (its keys are Dex's, unchanged: config/ldap.py) and a `saml` entry
`auth.saml.<id>` (config/saml.py); the code flow is used,
as Dex does. A key authbridge cannot honour is refused naming its full entry path, never
dropped, so a configuration never means less than it says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from authbridge.config.errors import ConfigIssue
from authbridge.config.ldap import LdapSettings
from authbridge.config.model import GithubSettings, OidcProviderSettings
from authbridge.config.saml import SamlProviderSettings

__all__ = ["SECRET_KEY", "translate"]

SECRET_KEY = "upstream-idps"
SECTION = "oidc"

# Dex oidc connector key -> authbridge `auth.openidConnect.<id>` key (same value).
_OIDC_KEYS = {
    "clientID": "clientId",
    "clientSecret": "clientSecret",
    "redirectURI": "redirectUri",
    "scopes": "scopes",
    "insecureEnableGroups": "insecureEnableGroups",
    "insecureSkipEmailVerified": "insecureSkipEmailVerified",
    "insecureSkipIssuerCallbackDomainCheck": "insecureSkipIssuerCallbackDomainCheck",
    # Dex's oidc connector sends these acr_values too (connector/oidc Config.AcrValues).
    "acrValues": "acrValues",
}
# Dex's claimMapping keys (connector/oidc ClaimMapping) - authbridge's claimsMapping names.
_CLAIM_MAPPING_KEYS = ("preferred_username", "email", "groups")
# Dex github keys honoured as they are; others are handled below.
_GITHUB_KEYS = {
    "clientID": "clientId",
    "clientSecret": "clientSecret",
    "redirectURI": "redirectUri",
}
# Dex defaults authbridge's GitHub connector already behaves as: accepted at these values only.
# Dex oidc keys authbridge already behaves as, at these values only.
_OIDC_FIXED: dict[str, object] = {
    "getUserInfo": True,  # userinfo is always merged, the ID token's claims winning
}
_GITHUB_DEFAULTS: dict[str, object] = {
    "loadAllGroups": False,  # groups outside `orgs` are not kept (allowedOrganizations)
    "useLoginAsID": False,  # the numeric GitHub id is the subject
    "teamNameField": "slug",  # teams are `org:team-slug`
}
# Dex saml connector keys -> `auth.saml.<id>` keys (config/saml.py), all honoured.
_SAML_KEYS = {
    "ssoURL": "ssoUrl",
    "ca": "ca",
    "caData": "caData",
    "entityIssuer": "entityIssuer",
    "ssoIssuer": "ssoIssuer",
    "redirectURI": "redirectUri",
    "usernameAttr": "usernameAttr",
    "emailAttr": "emailAttr",
    "groupsAttr": "groupsAttr",
    "groupsDelim": "groupsDelim",
    "allowedGroups": "allowedGroups",
    "filterGroups": "filterGroups",
    "nameIDPolicyFormat": "nameIdPolicyFormat",
    "insecureSkipSignatureValidation": "insecureSkipSignatureValidation",
}
_ENTRY_KEYS = ("type", "id", "name", "config")
# authbridge key -> where it came from in the entry, to name a bad value where it was written.
_ORIGINS = {
    **{native: f"config.{dex}" for dex, native in (_OIDC_KEYS | _GITHUB_KEYS | _SAML_KEYS).items()},
    "issuer": "config.issuer",
    "discoveryUrl": "config.issuer",
    "authUrlParams": "config.promptType",
    "claimsMapping": "config.claimMapping",
    "allowedOrganizations": "config.orgs",
    "baseUrl": "config.hostName",
    "apiUrl": "config.hostName",
    "displayName": "name",
}


def translate(
    data: dict[str, Any], environ: Mapping[str, str], secrets_dir: str, issues: list[ConfigIssue]
) -> dict[str, Any]:
    """Replace a Pachyderm `oidc:` section with the `auth:` blocks it means.

    Returns `data` untouched when it has no `oidc` section.
    """
    section = data.get(SECTION)
    if not isinstance(section, dict):
        return data
    out = {key: value for key, value in data.items() if key != SECTION}
    entries = _entries(section, Path(environ.get("AUTHBRIDGE_SECRETS_DIR", secrets_dir)), issues)
    auth = dict(out.get("auth") or {})
    oidc = dict(auth.get("openidConnect") or {})
    for where, entry in entries:
        if not isinstance(entry, dict):
            issues.append(ConfigIssue(where, "must be a mapping {type, id, name, config}"))
            continue
        for key in entry:
            if key not in _ENTRY_KEYS:
                issues.append(
                    ConfigIssue(
                        f"{where}.{key}",
                        "unexpected field in a Dex connector entry (Dex refuses it too: "
                        "pachd would crash-loop); an entry has only type, id, name and config",
                    )
                )
        config = entry.get("config")
        if not isinstance(config, dict):
            issues.append(ConfigIssue(f"{where}.config", "must be a mapping of connector keys"))
            continue
        kind, ident = entry.get("type"), entry.get("id")
        if not isinstance(ident, str) or not ident:
            issues.append(ConfigIssue(f"{where}.id", "must be the connector's id (okta, ...)"))
            continue
        if kind == "oidc":
            if ident in ("flow", "clockTolerance", "providers"):
                issues.append(ConfigIssue(f"{where}.id", f"{ident!r} is a reserved name"))
            elif ident in oidc:
                issues.append(
                    ConfigIssue(f"{where}.id", f"auth.openidConnect.{ident} is already configured")
                )
            else:
                block = _oidc(where, entry, issues)
                if _valid(where, block, OidcProviderSettings, issues):
                    oidc[ident] = block
        elif kind == "github":
            if "github" in auth:
                issues.append(ConfigIssue(f"{where}.id", "auth.github is already configured"))
            else:
                block = _github(where, entry, issues)
                if _valid(where, block, GithubSettings, issues):
                    auth["github"] = block
        elif kind == "ldap":
            ldap = dict(auth.get("ldap") or {})
            if ident in ldap or ident in oidc or ident == "github":
                issues.append(ConfigIssue(f"{where}.id", f"a connector {ident!r} already exists"))
            else:
                block = _ldap(entry)
                if _valid_ldap(where, block, issues):
                    ldap[ident] = block
                    auth["ldap"] = ldap
        elif kind == "saml":
            saml = dict(auth.get("saml") or {})
            if ident in saml:
                issues.append(
                    ConfigIssue(f"{where}.id", f"auth.saml.{ident} is already configured")
                )
            else:
                block = _block(where, entry, _SAML_KEYS, {}, {}, issues)
                if _valid(where, block, SamlProviderSettings, issues):
                    saml[ident] = block
                    auth["saml"] = saml
        else:
            issues.append(
                ConfigIssue(
                    f"{where}.type",
                    f"connector type {kind!r} is not supported (oidc, github, ldap, saml)",
                )
            )
    if entries:
        # Dex's oidc connector is a confidential code-flow client.
        oidc.setdefault("flow", "code")
        auth["openidConnect"] = oidc
        out["auth"] = auth
    return out


def _valid(
    where: str, block: dict[str, Any], model: type[BaseModel], issues: list[ConfigIssue]
) -> bool:
    """Check a translated block here, so a bad value is named by its entry path."""
    try:
        model.model_validate(block)
    except ValidationError as exc:
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            given = error.get("input")
            if isinstance(given, (str, int, float, bool)):
                message += f" (got {given!r})"
            issues.append(ConfigIssue(f"{where}.{_ORIGINS.get(key, key)}", message))
        return False
    return True


def _entries(
    section: dict[str, Any], secrets_dir: Path, issues: list[ConfigIssue]
) -> list[tuple[str, Any]]:
    """Each entry with the path that names it in errors (the secret's entries by their file)."""
    entries: list[tuple[str, Any]] = []
    for key in section:
        if key not in ("upstreamIDPs", "upstreamIDPsSecretName"):
            issues.append(
                ConfigIssue(
                    f"oidc.{key}",
                    "not read by authbridge (only upstreamIDPs and upstreamIDPsSecretName are)",
                )
            )
    given = section.get("upstreamIDPs")
    if given is not None:
        entries += _parse(given, "oidc.upstreamIDPs", issues)
    secret = section.get("upstreamIDPsSecretName")
    if secret:
        where = "oidc.upstreamIDPsSecretName"
        if not isinstance(secret, str) or "/" in secret or secret.startswith("."):
            issues.append(ConfigIssue(where, "must be the name of a Kubernetes Secret"))
            return entries
        path = secrets_dir / secret / SECRET_KEY
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            issues.append(
                ConfigIssue(
                    where,
                    f"cannot read {path}: {exc.strerror}; mount the Secret {secret!r} "
                    f"(key {SECRET_KEY}) under $AUTHBRIDGE_SECRETS_DIR/{secret}/",
                )
            )
            return entries
        entries += _parse(text, f"secret {secret}/{SECRET_KEY}", issues)
    return entries


def _parse(value: Any, where: str, issues: list[ConfigIssue]) -> list[tuple[str, Any]]:
    """A list, or a YAML/JSON string holding one (Pachyderm's chart accepts both)."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else []
        except yaml.YAMLError:
            issues.append(ConfigIssue(where, "is a string but not valid YAML/JSON"))
            return []
    if value is None:
        return []
    if not isinstance(value, list):
        issues.append(ConfigIssue(where, "must be a list of Dex connectors"))
        return []
    return [(f"{where}[{index}]", entry) for index, entry in enumerate(value)]


def _block(
    where: str,
    entry: dict[str, Any],
    keys: Mapping[str, str],
    handled: Mapping[str, Callable[[Any], None]],
    extra: dict[str, Any],
    issues: list[ConfigIssue],
) -> dict[str, Any]:
    """The authbridge block of one entry: renamed keys, then what the handlers made."""
    block: dict[str, Any] = {}
    for key, value in entry["config"].items():
        if key in keys:
            block[keys[key]] = value
        elif key in handled:
            handled[key](value)
        else:
            issues.append(
                ConfigIssue(f"{where}.config.{key}", "Dex key not supported by authbridge yet")
            )
    block.update(extra)
    block["enabled"] = True
    if isinstance(entry.get("name"), str):
        block["displayName"] = entry["name"]
    return block


def _ldap(entry: dict[str, Any]) -> dict[str, Any]:
    """Dex's ldap keys are authbridge's own (`auth.ldap.<id>`): the block is the entry's
    config, checked whole by `_valid` (an unknown key is named at its entry path)."""
    block = dict(entry["config"])
    block["enabled"] = True
    if isinstance(entry.get("name"), str):
        block["displayName"] = entry["name"]
    return block


def _valid_ldap(where: str, block: dict[str, Any], issues: list[ConfigIssue]) -> bool:
    """Check an ldap entry, naming each problem at its path under the entry's config."""
    try:
        LdapSettings.model_validate(block)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            at = f"{where}.name" if loc == ["displayName"] else ".".join([f"{where}.config", *loc])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "Dex key not supported by authbridge yet"
            else:
                given = error.get("input")
                shown = isinstance(given, (str, int, float, bool)) and repr(given) in message
                if isinstance(given, (str, int, float, bool)) and "bindPW" not in loc and not shown:
                    message += f" (got {given!r})"
            issues.append(ConfigIssue(at, message))
        return False
    return True


def _fixed(
    where: str, values: Mapping[str, object], issues: list[ConfigIssue]
) -> dict[str, Callable[[Any], None]]:
    """Handlers for Dex keys accepted only at the value authbridge already behaves as."""

    def check(key: str) -> Callable[[Any], None]:
        def handler(value: Any) -> None:
            if value != values[key]:
                issues.append(
                    ConfigIssue(
                        f"{where}.config.{key}",
                        f"only {values[key]!r} is supported (got {value!r})",
                    )
                )

        return handler

    return {key: check(key) for key in values}


def _oidc(where: str, entry: dict[str, Any], issues: list[ConfigIssue]) -> dict[str, Any]:
    extra: dict[str, Any] = {}

    def issuer(value: Any) -> None:
        # Dex compares the issuer to discovery's byte for byte; so does authbridge when
        # `issuer` is set, and its sign-in error says which way a trailing slash differs.
        extra["issuer"] = value
        extra["discoveryUrl"] = value

    def claim_mapping(value: Any) -> None:
        if not isinstance(value, dict):
            issues.append(ConfigIssue(f"{where}.config.claimMapping", "must be a mapping"))
            return
        mapping = extra.setdefault("claimsMapping", {})
        for name, claim in value.items():
            if name in _CLAIM_MAPPING_KEYS:
                mapping[name] = claim
            else:
                issues.append(
                    ConfigIssue(
                        f"{where}.config.claimMapping.{name}",
                        f"not a Dex claimMapping key ({', '.join(_CLAIM_MAPPING_KEYS)})",
                    )
                )

    def prompt_type(value: Any) -> None:
        # Dex sends `prompt=<promptType>`; an empty value sends none.
        if value:
            extra.setdefault("authUrlParams", {})["prompt"] = value

    def user_id_key(value: Any) -> None:
        extra.setdefault("claimsMapping", {})["sub"] = value

    def user_name_key(value: Any) -> None:
        extra.setdefault("claimsMapping", {})["name"] = value

    handled = {
        "issuer": issuer,
        "claimMapping": claim_mapping,
        "promptType": prompt_type,
        "userIDKey": user_id_key,
        "userNameKey": user_name_key,
    } | _fixed(where, _OIDC_FIXED, issues)
    return _block(where, entry, _OIDC_KEYS, handled, extra, issues)


def _github(where: str, entry: dict[str, Any], issues: list[ConfigIssue]) -> dict[str, Any]:
    extra: dict[str, Any] = {}

    def orgs(value: Any) -> None:
        names = []
        for index, org in enumerate(value if isinstance(value, list) else [None]):
            at = f"{where}.config.orgs[{index}]"
            if not isinstance(org, dict) or not isinstance(org.get("name"), str):
                issues.append(ConfigIssue(at, "must be {name: <organization>}"))
                continue
            if org.get("teams"):
                issues.append(
                    ConfigIssue(f"{at}.teams", "limiting sign-in to teams is not supported yet")
                )
            names.append(org["name"])
        extra["allowedOrganizations"] = names

    def host_name(value: Any) -> None:
        # GitHub Enterprise Server: the web UI at https://<host>, the API under /api/v3.
        extra["baseUrl"] = f"https://{value}"
        extra["apiUrl"] = f"https://{value}/api/v3"

    handled = {"orgs": orgs, "hostName": host_name} | _fixed(where, _GITHUB_DEFAULTS, issues)
    return _block(where, entry, _GITHUB_KEYS, handled, extra, issues)
