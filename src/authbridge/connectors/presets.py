"""Presets: the generic OIDC connector with each IdP's defaults and quirks.

- okta: org (`https://<org>.okta.com`) and custom (`.../oauth2/<id>`) authorization
  servers alike; groups are admin-managed, so the groups claim is read by default.
- microsoft: Entra ID v2.0. Users are keyed by `tid` + `oid` (the `sub` is pairwise per
  application, and `oid` alone repeats across tenants); group claims are object ids, and
  when a user has too many the token carries an overage marker instead, so the groups
  are read from Microsoft Graph with the client's own credentials. The `email` claim is
  not verified by Entra, so it is unverified unless `xms_edov` says otherwise.
- auth0: the API `audience` comes from authUrlParams; issuers end with `/`.
- cognito: the implicit `token` response (no ID token): the access token must be a JWT of
  the pool issued to this app client (`client_id`, `token_use: access`; RFC 6819 §4.4.2.6),
  the profile comes from userinfo, and `email_verified` arrives as the string "true"/"false".
- google: optional hosted-domain restriction through `allowedDomains` (the `hd` claim).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import structlog

from authbridge.connectors.errors import LoginFailed, ProviderUnavailable
from authbridge.connectors.http import json_object
from authbridge.connectors.identity import Identity
from authbridge.connectors.oidc import OidcConnector

__all__ = [
    "Auth0Connector",
    "CognitoConnector",
    "GoogleConnector",
    "MicrosoftConnector",
    "OktaConnector",
]

log = structlog.get_logger("authbridge.connectors")


class OktaConnector(OidcConnector):
    type_name = "okta"
    default_display_name = "Okta"
    groups_by_default = True


class Auth0Connector(OidcConnector):
    type_name = "auth0"
    default_display_name = "Auth0"


class CognitoConnector(OidcConnector):
    type_name = "cognito"
    default_display_name = "Amazon Cognito"
    default_response_type = "token"
    # Cognito access tokens carry `token_use: access` and `client_id` (no `aud`); an ID
    # token of the pool (`token_use: id`) is not an access token.
    access_token_use_required = True
    # The hosted UI and token endpoints live on amazoncognito.com; the issuer and JWKS on
    # cognito-idp.<region>.amazonaws.com.
    trusted_domains = ("amazoncognito.com", "amazonaws.com")

    def username(self, claims: Mapping[str, Any], email: str | None) -> str:
        for name in ("preferred_username", "cognito:username", "username"):
            value = claims.get(self.settings.claims_mapping.get(name, name))
            if isinstance(value, str) and value:
                return value
        return email or self.subject(claims)

    def groups(self, claims: Mapping[str, Any], access_token: str | None) -> tuple[str, ...]:
        if "groups" not in self.settings.claims_mapping and "cognito:groups" in claims:
            claims = {**claims, "groups": claims["cognito:groups"]}
        return super().groups(claims, access_token)


class GoogleConnector(OidcConnector):
    type_name = "google"
    default_display_name = "Google"
    default_discovery_url = "https://accounts.google.com/.well-known/openid-configuration"
    trusted_domains = ("googleapis.com", "google.com")

    def authorization_params(self, login: Any) -> dict[str, str]:
        params = super().authorization_params(login)
        # A hint only: Google shows accounts of that domain. The `hd` claim is what counts.
        if len(self.signup.allowed_domains) == 1 and "hd" not in params:
            params["hd"] = self.signup.allowed_domains[0]
        return params

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        allowed = self.signup.allowed_domains
        if allowed and str(claims.get("hd", "")).lower() not in allowed:
            raise LoginFailed(
                "This Google account is not part of an allowed organisation.",
                f"The `hd` claim {claims.get('hd')!r} is not in allowedDomains.",
                code="hosted_domain",
            )


class MicrosoftConnector(OidcConnector):
    type_name = "microsoft"
    default_display_name = "Microsoft"
    groups_by_default = True
    trusted_domains = ("microsoftonline.com", "graph.microsoft.com")
    graph_url: ClassVar[str] = "https://graph.microsoft.com"

    def subject(self, claims: Mapping[str, Any]) -> str:
        tid, oid = claims.get("tid"), claims.get("oid")
        if not isinstance(tid, str) or not isinstance(oid, str) or not tid or not oid:
            raise LoginFailed(
                "Microsoft did not say who signed in.",
                "The ID token has no `tid`/`oid`; use the v2.0 endpoints and the openid scope.",
                code="no_identity",
            )
        return f"{tid}:{oid}"

    def identity(self, claims: Mapping[str, Any], access_token: str | None) -> Identity:
        if claims.get("email_verified") is None and claims.get("xms_edov") is not None:
            claims = {**claims, "email_verified": claims.get("xms_edov")}
        return super().identity(claims, access_token)

    def groups(self, claims: Mapping[str, Any], access_token: str | None) -> tuple[str, ...]:
        if not (self.settings.insecure_enable_groups or self.groups_by_default):
            return ()
        names = claims.get("_claim_names")
        overage = claims.get("hasgroups") is True or (isinstance(names, dict) and "groups" in names)
        if not overage:
            return super().groups(claims, access_token)
        return self._graph_groups(str(claims.get("oid", "")))

    def _graph_groups(self, oid: str) -> tuple[str, ...]:
        """Group overage: read the user's groups from Graph with the app's own token
        (client credentials, `Group.Read.All`), as Astronomer's setup page grants."""
        if not self.settings.client_secret:
            log.warning("groups_overage_without_secret", provider=self.id)
            return ()
        metadata = self.metadata()
        if metadata.token_endpoint is None:
            return ()
        try:
            token = json_object(
                self.http.request(
                    "POST",
                    metadata.token_endpoint,
                    what=f"{self.id} token endpoint (Graph)",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.settings.client_secret,
                        "scope": f"{self.graph_url}/.default",
                    },
                ),
                f"{self.id} token endpoint (Graph)",
            )
            response = self.http.request(
                "POST",
                f"{self.graph_url}/v1.0/users/{oid}/getMemberObjects",
                what=f"{self.id} Microsoft Graph",
                headers={"authorization": f"Bearer {token.get('access_token', '')}"},
                json={"securityEnabledOnly": False},
            )
            body = json_object(response, f"{self.id} Microsoft Graph")
        except ProviderUnavailable as exc:
            # Without the groups the login would silently drop memberships: refuse instead.
            raise LoginFailed(
                "Your groups could not be read from Microsoft.",
                f"Group overage and Graph failed: {exc.hint}",
                code="groups_unavailable",
            ) from None
        values = body.get("value")
        return tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()
