"""OpenMetadata's Helm values, `openmetadata.config.{authorizer,authentication}`, read as written.

The translation into authbridge's keys:

* `authorizer.initialAdmins` and `adminPrincipals` -> `authorizer.initialAdmins`;
  `principalDomain` -> `authorizer.principalDomain` (authbridge limits accounts to it, which
  is OpenMetadata's `enforcePrincipalDomain: true`); `className` and
  `containerRequestFilter` must name OpenMetadata's own DefaultAuthorizer and JwtFilter,
  whose rules authbridge applies.
* `authentication.provider` names the `auth.openidConnect.<provider>` block; `clientType`
  `public` is the implicit flow, `confidential` the code flow with a client secret;
  `authority` is the IdP's issuer; `clientId`; `oidcConfiguration.discoveryUri`,
  `.clientId` and `.clientSecret`, each a value or `{secretRef, secretKey}` (the file
  `$AUTHBRIDGE_SECRETS_DIR/<secretRef>/<secretKey>`, as a Secret volume is mounted).
* `callbackUrl` (and `oidcConfiguration.callbackUrl`) is where OpenMetadata receives its
  sign-in answer: OpenMetadata becomes a client of authbridge's OpenID Provider,
  `clients.<clientId>` with that redirect URI (RFC 6749 §3.1.2.2: registered, matched
  exactly), as the seed page has it registered at Okta. `public` is an SPA (implicit or
  code with PKCE, no secret) that also registers the page's `/silent-callback` beside
  `/callback`; `confidential` a code-flow client with the same client secret.
* `publicKeys` is the token verifier's trust list (`VerifierConfig.from_mapping` reads this
  block as it is) and `serverUrl` OpenMetadata's own address: the server reads neither,
  and `config check` says so.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authbridge.config.errors import ConfigIssue
from authbridge.config.houston import read_secret

__all__ = ["OpenMetadataValues", "from_values"]

ROOT = "openmetadata.config"
KNOWN_CLASSES = {
    "className": "org.openmetadata.service.security.DefaultAuthorizer",
    "containerRequestFilter": "org.openmetadata.service.security.JwtFilter",
}
# OpenMetadata's provider names -> authbridge's provider presets.
PROVIDERS = {
    "okta": "okta",
    "google": "google",
    "auth0": "auth0",
    "azure": "microsoft",
    "aws-cognito": "cognito",
    "custom-oidc": "custom",
}
AUTHORIZER_KEYS = {
    "className",
    "containerRequestFilter",
    "initialAdmins",
    "adminPrincipals",
    "principalDomain",
    "enforcePrincipalDomain",
    "allowedEmailRegistrationDomains",
}
AUTHENTICATION_KEYS = {
    "provider",
    "clientType",
    "authority",
    "clientId",
    "callbackUrl",
    "publicKeys",
    "oidcConfiguration",
}
OIDC_KEYS = {"oidcType", "clientId", "clientSecret", "discoveryUri", "callbackUrl", "serverUrl"}
# Keys of OpenMetadata's UI or of the token verifier: accepted, not read by the server.
NOT_READ = {"publicKeys", "serverUrl"}
WHY = {
    "serverUrl": " (OpenMetadata UI's address)",
    "publicKeys": " (the token verifier's: VerifierConfig.from_mapping)",
}


@dataclass
class OpenMetadataValues:
    """authbridge's keys for `openmetadata.config`, and what became of each foreign key."""

    config: dict[str, Any] = field(default_factory=dict)
    translated: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)

    def set(self, where: str, target: str, value: Any) -> None:
        node = self.config
        *parents, last = target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        self.translated.append(f"{where} -> {target}")


def _mapping(value: Any, where: str, out: OpenMetadataValues) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        out.issues.append(ConfigIssue(where, "must be a mapping"))
        return {}
    return value


def _unknown(block: dict[str, Any], known: set[str], where: str, out: OpenMetadataValues) -> None:
    for key in block:
        if key not in known:
            near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f"{where}.{near[0]}" if near else None
            out.issues.append(ConfigIssue(f"{where}.{key}", "unknown key", hint))


def from_values(openmetadata: Any, secrets_dir: Path) -> OpenMetadataValues:
    """Translate the `openmetadata:` block of a values file (other keys are not read)."""
    out = OpenMetadataValues()
    top = _mapping(openmetadata, "openmetadata", out)
    out.not_read.extend(f"openmetadata.{key}" for key in top if key != "config")
    config = _mapping(top.get("config"), ROOT, out)
    for key in config:
        if key not in ("authorizer", "authentication"):
            out.not_read.append(f"{ROOT}.{key}")
    _authorizer(_mapping(config.get("authorizer"), f"{ROOT}.authorizer", out), out)
    where = f"{ROOT}.authentication"
    _authentication(_mapping(config.get("authentication"), where, out), secrets_dir, out)
    return out


def _authorizer(block: dict[str, Any], out: OpenMetadataValues) -> None:
    where = f"{ROOT}.authorizer"
    _unknown(block, AUTHORIZER_KEYS, where, out)
    for key, expected in KNOWN_CLASSES.items():
        if key in block and block[key] != expected:
            out.issues.append(
                ConfigIssue(
                    f"{where}.{key}",
                    f"authbridge applies the rules of {expected} only (got {block[key]!r})",
                )
            )
        elif key in block:
            out.translated.append(f"{where}.{key} -> (authbridge's own rules)")
    admins: list[str] = []
    for key in ("initialAdmins", "adminPrincipals"):
        names = block.get(key)
        if names is None:
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            out.issues.append(ConfigIssue(f"{where}.{key}", "must be a list of names"))
            continue
        admins.extend(n for n in names if n not in admins)
        out.translated.append(f"{where}.{key} -> authorizer.initialAdmins")
    if admins:
        out.config.setdefault("authorizer", {})["initialAdmins"] = admins
    domain = block.get("principalDomain")
    if domain is not None:
        out.set(f"{where}.principalDomain", "authorizer.principalDomain", domain)
    if domain is not None and block.get("enforcePrincipalDomain") is False:
        out.issues.append(
            ConfigIssue(
                f"{where}.enforcePrincipalDomain",
                "authbridge always limits accounts to principalDomain: set it to true, "
                "or remove principalDomain",
            )
        )
    allowed = block.get("allowedEmailRegistrationDomains")
    if allowed is not None and allowed != ["all"] and allowed != [domain]:
        out.issues.append(
            ConfigIssue(
                f"{where}.allowedEmailRegistrationDomains",
                'authbridge allows ["all"] or the one principalDomain '
                f"(got {allowed!r}); set principalDomain instead",
            )
        )


def _authentication(block: dict[str, Any], secrets_dir: Path, out: OpenMetadataValues) -> None:
    where = f"{ROOT}.authentication"
    if not block:
        return
    _unknown(block, AUTHENTICATION_KEYS, where, out)
    oidc = _mapping(block.get("oidcConfiguration"), f"{where}.oidcConfiguration", out)
    _unknown(oidc, OIDC_KEYS, f"{where}.oidcConfiguration", out)
    for key in sorted(NOT_READ & set(block)):
        out.not_read.append(f"{where}.{key}{WHY[key]}")
    for key in sorted(NOT_READ & set(oidc)):
        out.not_read.append(f"{where}.oidcConfiguration.{key}{WHY[key]}")

    given = str(block.get("provider") or oidc.get("oidcType") or "")
    name = PROVIDERS.get(given.lower())
    if name is None:
        known = ", ".join(sorted(PROVIDERS))
        out.issues.append(
            ConfigIssue(f"{where}.provider", f"must be one of {known} (got {given!r})")
        )
        return
    base = f"auth.openidConnect.{name}"
    oidc_type = oidc.get("oidcType")
    if oidc_type is not None and PROVIDERS.get(str(oidc_type).lower()) != name:
        out.issues.append(
            ConfigIssue(
                f"{where}.oidcConfiguration.oidcType",
                f"names another provider than authentication.provider ({oidc_type!r})",
            )
        )
    elif oidc_type is not None:
        out.translated.append(f"{where}.oidcConfiguration.oidcType -> (same as provider)")
    out.set(f"{where}.provider", f"{base}.enabled", True)
    client_type = block.get("clientType", "public")
    if client_type not in ("public", "confidential"):
        out.issues.append(
            ConfigIssue(f"{where}.clientType", f"must be public or confidential ({client_type!r})")
        )
        return
    # public: the SPA's implicit flow; confidential: the code flow with a client secret.
    flow = "implicit" if client_type == "public" else "code"
    out.set(f"{where}.clientType", "auth.openidConnect.flow", flow)
    authority = block.get("authority")
    if authority is not None:
        out.set(f"{where}.authority", f"{base}.issuer", authority)
    client_id = _value(
        oidc.get("clientId"), f"{where}.oidcConfiguration.clientId", secrets_dir, out
    )
    if client_id is not None:
        out.set(f"{where}.oidcConfiguration.clientId", f"{base}.clientId", client_id)
        if block.get("clientId") is not None:
            # OpenMetadata's server uses oidcConfiguration's client; the top one is its UI's.
            out.translated.append(f"{where}.clientId -> (superseded by oidcConfiguration)")
    elif block.get("clientId") is not None:
        out.set(f"{where}.clientId", f"{base}.clientId", block["clientId"])
    secret_where = f"{where}.oidcConfiguration.clientSecret"
    secret = _value(oidc.get("clientSecret"), secret_where, secrets_dir, out)
    if secret is not None:
        out.set(secret_where, f"{base}.clientSecret", secret)
    elif client_type == "confidential":
        out.issues.append(ConfigIssue(secret_where, "a confidential client needs its secret"))
    if client_id is not None or block.get("clientId") is not None:
        _client(block, oidc, str(client_id or block["clientId"]), secret, out)
    discovery = oidc.get("discoveryUri")
    if isinstance(discovery, str):
        url = _url(discovery)
        out.set(f"{where}.oidcConfiguration.discoveryUri", f"{base}.discoveryUrl", url)
        if url != discovery:
            out.translated[-1] += f" (the doubled scheme read as {url})"
    elif isinstance(authority, str):
        discovery = authority.rstrip("/") + "/.well-known/openid-configuration"
        out.set(f"{where}.authority", f"{base}.discoveryUrl", discovery)


def _client(
    block: dict[str, Any],
    oidc: dict[str, Any],
    client_id: str,
    secret: str | None,
    out: OpenMetadataValues,
) -> None:
    """OpenMetadata as a client of authbridge's OpenID Provider, at its callbackUrl."""
    where = f"{ROOT}.authentication"
    given = [
        (f"{where}.callbackUrl", block.get("callbackUrl")),
        (f"{where}.oidcConfiguration.callbackUrl", oidc.get("callbackUrl")),
    ]
    uris: list[str] = []
    target = f"clients.{client_id}"
    for path, uri in given:
        if uri is None:
            continue
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            out.issues.append(ConfigIssue(path, "must be an http(s) URL"))
            continue
        if uri not in uris:
            uris.append(uri)
        out.translated.append(f"{path} -> {target}.redirectUris")
    if not uris:
        return
    public = block.get("clientType", "public") == "public"
    if public:
        # The SPA renews its session in a hidden frame at /silent-callback (the seed page
        # registers both sign-in redirect URIs).
        for uri in list(uris):
            if uri.rstrip("/").endswith("/callback"):
                silent = uri.rstrip("/").removesuffix("callback") + "silent-callback"
                if silent not in uris:
                    uris.append(silent)
    client: dict[str, Any] = {"name": "OpenMetadata", "redirectUris": uris, "public": public}
    if public:
        client["grantTypes"] = ["implicit", "authorization_code", "refresh_token"]
    elif secret is not None:
        client["secret"] = secret
    out.config.setdefault("clients", {})[client_id] = client


def _url(value: str) -> str:
    # The seed's template is "http://{ISSUER_URL}/.well-known/..." with an issuer that has
    # its own scheme: "http://https://idp/..." means the https URL inside.
    for outer in ("http://", "https://"):
        inner = value.removeprefix(outer)
        if inner != value and inner.startswith(("http://", "https://")):
            return inner
    return value


def _value(given: Any, where: str, secrets_dir: Path, out: OpenMetadataValues) -> str | None:
    """A plain value, or `{secretRef, secretKey}` read from the mounted Secret."""
    if given is None:
        return None
    if isinstance(given, dict):
        _unknown(given, {"secretRef", "secretKey"}, where, out)
        ref, key = given.get("secretRef"), given.get("secretKey")
        if not isinstance(ref, str) or not isinstance(key, str) or not ref or not key:
            out.issues.append(ConfigIssue(where, "needs both secretRef and secretKey"))
            return None
        return read_secret(secrets_dir, ref, key, where, out.issues)
    return str(given)
