"""A generic OpenID Connect relying party (OIDC Core 1.0), configured by discovery URL.

Both of Astronomer's flows: `code` (§3.1, with PKCE S256 per RFC 7636 and the client
secret when there is one) and `implicit` (§3.2, `id_token token` by default, or what
`authUrlParams.response_type` asks for: Cognito's `token`, or a hybrid `code id_token`,
§3.3). Presets for particular IdPs are subclasses that only change defaults and hooks.
A response with no ID token identifies someone only through an access token that is a JWT
signed for this client (`accesstoken.py`): an opaque one could belong to any other app.

Over 400 lines because the code, implicit and hybrid flows share one request and response
path; discovery, keys and the ID-token checks already live in modules of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import structlog
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from authbridge.config.model import OidcProviderSettings
from authbridge.connectors.accesstoken import AccessTokenChecks, is_jws, validate_access_token
from authbridge.connectors.authn import authentication_params, upstream_amr
from authbridge.connectors.base import Landing, LoginRequest, SignupPolicy
from authbridge.connectors.discovery import (
    DiscoveryCache,
    ProviderMetadata,
    check_url,
    discovery_url,
    issuer_from_discovery_url,
)
from authbridge.connectors.errors import ConnectorError, LoginFailed, ProviderUnavailable
from authbridge.connectors.http import OutboundHttp, json_object
from authbridge.connectors.identity import Identity
from authbridge.connectors.idtoken import IdTokenChecks, validate_id_token
from authbridge.connectors.jwks import IdpKeys

__all__ = ["OidcConnector", "email_verified", "pkce_challenge"]

log = structlog.get_logger("authbridge.connectors")

RESPONSE_TYPE_PARTS = frozenset({"code", "id_token", "token"})
# Parameters authbridge sets itself; `authUrlParams` may not replace them.
PROTECTED_PARAMS = frozenset(
    {
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_type",
    }
)
RESPONSE_MODES = frozenset({"query", "fragment", "form_post"})
# RFC 6749 §4.1.2.1 / OIDC Core §3.1.2.6 error codes, told in words.
IDP_ERRORS = {
    "access_denied": (
        "The sign-in was cancelled or refused at the identity provider.",
        "The user declined, or is not assigned to this application at the IdP.",
    ),
    "login_required": (
        "The identity provider needs you to sign in again.",
        "The IdP refused a silent login (prompt=none); remove `prompt` from authUrlParams.",
    ),
    "consent_required": (
        "The identity provider needs your consent first.",
        "Grant consent for this application at the IdP (admin consent for organisations).",
    ),
    "interaction_required": (
        "The identity provider needs you to complete a step first.",
        "The IdP asked for interaction that a silent login cannot give.",
    ),
    "unauthorized_client": (
        "This application may not sign in this way at the identity provider.",
        "Allow the grant type of auth.openidConnect.flow for this client at the IdP "
        "(Authorization Code for `code`, Implicit/Hybrid for `implicit`).",
    ),
    "unsupported_response_type": (
        "This application may not sign in this way at the identity provider.",
        "The IdP does not allow the response_type requested; check flow and authUrlParams.",
    ),
    "invalid_scope": (
        "The identity provider refused the requested permissions.",
        "A scope is not allowed for this client; check `scopes`.",
    ),
    "invalid_request": (
        "The identity provider refused the sign-in request.",
        "Often the redirect URI is not registered at the IdP for this client.",
    ),
}


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: S256 = BASE64URL(SHA256(ASCII(code_verifier))), by Authlib, as the
    provider's PKCE check (`provider/pkce.py`) and the CLI's login compute it."""
    challenge: str = create_s256_code_challenge(verifier)
    return challenge


def email_verified(value: Any, *, skip_verification: bool) -> bool:
    """`email_verified` as a bool, without Dex's trap.

    Only a *missing* claim counts as verified under `insecureSkipEmailVerified`; a claim
    that is present says what it says, and IdPs that send it as a string (Cognito's
    `"true"`) are read as such, so `"false"` stays false.
    """
    if value is None:
        return skip_verification
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False


def _domain_ok(host: str, domains: set[str]) -> bool:
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in domains)


class OidcConnector:
    """The generic `oidc` connector; presets override the class attributes and hooks."""

    type_name: ClassVar[str] = "oidc"
    # problem() waits up to DiscoveryCache.probe_budget on a due discovery fetch.
    problem_may_wait: ClassVar[bool] = True
    default_display_name: ClassVar[str | None] = None
    default_discovery_url: ClassVar[str | None] = None
    default_response_type: ClassVar[str] = "id_token token"
    # Whether the groups claim is read without `insecureEnableGroups` (Dex reads it only
    # when asked, as a generic IdP may let users edit it; named IdPs set it by admins).
    groups_by_default: ClassVar[bool] = False
    # Hosts beyond the issuer's domain (or baseDomain) that may serve this IdP's endpoints.
    trusted_domains: ClassVar[tuple[str, ...]] = ()
    # Scopes a preset adds to the configured ones.
    default_scopes: ClassVar[tuple[str, ...]] = ()
    # Whether an access token that identifies someone must say `token_use: access`.
    access_token_use_required: ClassVar[bool] = False

    def __init__(
        self,
        connector_id: str,
        settings: OidcProviderSettings,
        *,
        flow: str,
        clock_tolerance: int,
        http: OutboundHttp,
    ) -> None:
        self.id = connector_id
        self.settings = settings
        self.flow = flow
        self.clock_tolerance = clock_tolerance
        self.http = http
        self.display_name = (
            settings.display_name or self.default_display_name or connector_id.capitalize()
        )
        self.signup = SignupPolicy(
            allow_signup=settings.allow_signup,
            invite_only=settings.signup == "invite-only",
            allowed_domains=tuple(d.lower() for d in settings.allowed_domains),
        )
        self.client_id = settings.client_id or ""
        self.config_error: ConnectorError | None = None
        self.response_type = self._response_type()
        self.discovery = self._discovery()
        self.jwks = IdpKeys(http, self._jwks_uri, name=connector_id)

    # -- configuration ------------------------------------------------------------------

    def _misconfigured(self, detail: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            "This identity provider is not configured correctly.",
            f"auth.openidConnect.{self.id}: {detail}",
            code="idp_misconfigured",
        )

    def _response_type(self) -> str:
        if self.flow == "code":
            return "code"
        asked = self.settings.auth_url_params.get("response_type") or self.default_response_type
        parts = asked.split()
        if not parts or not set(parts) <= RESPONSE_TYPE_PARTS or len(set(parts)) != len(parts):
            self.config_error = self._misconfigured(
                f"authUrlParams.response_type {asked!r} is not a combination of "
                "code, id_token and token"
            )
            return self.default_response_type
        return " ".join(parts)

    def _discovery(self) -> DiscoveryCache:
        configured = self.settings.discovery_url or self.default_discovery_url
        url = ""
        issuer = self.settings.issuer or ""
        try:
            if not self.client_id:
                raise self._misconfigured("clientId is not set")
            if configured:
                url = discovery_url(configured)
            elif issuer:
                url = discovery_url(issuer)
            else:
                raise self._misconfigured("set discoveryUrl (or issuer)")
            if issuer:
                check_url(issuer, "issuer")
        except ProviderUnavailable as exc:
            self.config_error = self.config_error or exc
        expected = issuer or issuer_from_discovery_url(url)
        return DiscoveryCache(self.http, url, expected, exact=bool(issuer), name=self.id)

    @property
    def landing(self) -> Landing:
        return "callback" if self.flow == "code" else "redirect"

    # -- metadata and status ------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """Checked discovery metadata: the endpoints must live in the IdP's own domain."""
        if self.config_error is not None:
            raise self.config_error
        metadata = self.discovery.get()
        self.check_domains(metadata)
        return metadata

    def check_domains(self, metadata: ProviderMetadata) -> None:
        """The endpoints must live in the issuer's domain, `baseDomain` or a preset's domains."""
        if self.settings.insecure_skip_issuer_callback_domain_check:
            return
        base = (self.settings.base_domain or urlsplit(metadata.issuer).hostname or "").lower()
        domains = {base, *self.trusted_domains}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            url = getattr(metadata, name)
            host = urlsplit(url).hostname if url else None
            if host and not _domain_ok(host, domains):
                raise self._misconfigured(
                    f"{name} {host} is outside {base}; set baseDomain to the IdP's domain, "
                    "or insecureSkipIssuerCallbackDomainCheck if this is intended"
                )

    def problem(self) -> str | None:
        """The button's status, from what is known; never waits long on the IdP."""
        if self.config_error is not None:
            return self.config_error.message
        problem = self.discovery.status()
        if problem is not None:
            return problem.message
        cached = self.discovery.cached
        if cached is not None:
            try:
                self.check_domains(cached)
            except ProviderUnavailable as exc:
                return exc.message
        return None

    def _jwks_uri(self) -> str:
        uri = self.metadata().jwks_uri
        if uri is None:
            raise self._misconfigured("the discovery document has no jwks_uri")
        return uri

    # -- the authorization request (OIDC Core §3.1.2.1) ---------------------------------

    def _response_mode(self, metadata: ProviderMetadata) -> str | None:
        if self.response_type == "code":
            return None
        asked = self.settings.auth_url_params.get("response_mode")
        if asked in RESPONSE_MODES and asked != "query":
            return asked
        # OAuth 2.0 Form Post Response Mode: tokens never sit in a URL or browser history.
        return "form_post" if "form_post" in metadata.response_modes_supported else None

    def authorization_params(self, login: LoginRequest) -> dict[str, str]:
        metadata = self.metadata()
        scopes = list(dict.fromkeys([*self.settings.scopes, *self.default_scopes]))
        params = {
            "response_type": self.response_type,
            "client_id": self.client_id,
            "redirect_uri": login.redirect_uri,
            "scope": " ".join(scopes),
            "state": login.state,
            "nonce": login.nonce,
        }
        if "code" in self.response_type.split():
            params["code_challenge"] = pkce_challenge(login.code_verifier)
            params["code_challenge_method"] = "S256"
        mode = self._response_mode(metadata)
        if mode:
            params["response_mode"] = mode
        for key, value in self.settings.auth_url_params.items():
            if key not in PROTECTED_PARAMS and key != "response_mode":
                params[key] = value
        # acrValues / maxAge win over the same names in authUrlParams: they are checked.
        params.update(authentication_params(self.settings))
        return params

    def authorization_url(self, login: LoginRequest) -> str:
        endpoint = self.metadata().authorization_endpoint
        sep = "&" if urlsplit(endpoint).query else "?"
        return endpoint + sep + urlencode(self.authorization_params(login))

    # -- the response -------------------------------------------------------------------

    def _idp_error(self, params: Mapping[str, str]) -> LoginFailed:
        code = params.get("error", "")[:64]
        message, hint = IDP_ERRORS.get(
            code, ("The identity provider refused the sign-in.", f"The IdP answered {code!r}.")
        )
        description = params.get("error_description", "")[:300]
        if description:
            hint = f"{hint} The IdP said: {description}"
        return LoginFailed(message, hint, code=code or "idp_error")

    def handle_callback(self, login: LoginRequest, params: Mapping[str, str]) -> Identity:
        try:
            return self._handle_callback(login, params)
        except ProviderUnavailable as exc:
            # The IdP's token, JWKS or userinfo endpoint is failing: say so on its button
            # until a fetch of its discovery document succeeds again.
            self.discovery.report(exc)
            raise

    def _handle_callback(self, login: LoginRequest, params: Mapping[str, str]) -> Identity:
        metadata = self.metadata()
        # RFC 9207 §2.4: the `iss` parameter, when sent (or promised), must be our issuer;
        # it stops a mix-up attack where another IdP's answer is replayed here.
        # When an ID token is in the response its `iss` claim does this job (RFC 9207 §2.4),
        # and providers such as panva/oidc-provider then leave the parameter out.
        iss_expected = "iss" in params or (
            metadata.iss_parameter_supported and "id_token" not in params
        )
        if iss_expected and params.get("iss") != metadata.issuer:
            raise LoginFailed(
                "The answer did not come from the expected identity provider.",
                f"RFC 9207 `iss` parameter {params.get('iss')!r} is not {metadata.issuer!r}.",
                code="issuer_mismatch",
            )
        if "error" in params:
            raise self._idp_error(params)
        parts = set(self.response_type.split())
        missing = [
            p for p in sorted(parts) if not params.get(p if p != "token" else "access_token")
        ]
        if missing:
            raise LoginFailed(
                "The identity provider's answer was incomplete.",
                f"Expected {', '.join(missing)} for response_type {self.response_type!r}.",
                code="incomplete_response",
            )
        # Only what this response_type asked for is used: an injected `code` or
        # `access_token` in another flow's answer is ignored.
        code = params.get("code") if "code" in parts else None
        front_access = params.get("access_token") if "token" in parts else None
        front_claims: dict[str, Any] | None = None
        if "id_token" in parts:
            front_claims = validate_id_token(
                params["id_token"],
                self.jwks,
                self._checks(
                    metadata,
                    login,
                    access_token=front_access,
                    access_token_hash_required="token" in parts,
                    code=code,
                    code_hash_required="code" in parts,
                ),
            )
        access_token = front_access
        front_only = front_access is not None
        claims = front_claims
        if code:
            tokens = self._exchange(metadata, login, code)
            back_access = _str(tokens.get("access_token"))
            if back_access:
                # Issued to us at the token endpoint (client authentication and PKCE).
                access_token, front_only = back_access, False
            id_token = _str(tokens.get("id_token"))
            if id_token:
                back = validate_id_token(
                    id_token, self.jwks, self._checks(metadata, login, access_token=access_token)
                )
                # OIDC Core §3.3.2.12 / §3.3.3.6: both ID tokens speak of the same person.
                if front_claims is not None and (
                    back.get("sub") != front_claims.get("sub")
                    or back.get("iss") != front_claims.get("iss")
                ):
                    raise LoginFailed(
                        "The identity provider's answer was inconsistent.",
                        "The two ID tokens of a hybrid response name different subjects.",
                        code="invalid_id_token",
                    )
                claims = back
            elif claims is None and "openid" in self.settings.scopes:
                raise LoginFailed(
                    "The identity provider did not identify you.",
                    "The token response has no id_token; is this an OpenID Connect provider?",
                    code="no_id_token",
                )
        # The authentication statement is the ID token's, never userinfo's (OIDC Core §2).
        amr = upstream_amr(self.id, self.settings, claims, clock_tolerance=self.clock_tolerance)
        bound: dict[str, Any] | None = None
        if claims is None and access_token is not None and front_only:
            # No ID token: the identity would rest on a token from the browser alone.
            bound = self._front_access_token(metadata, access_token)
        claims = self._with_userinfo(metadata, claims, access_token)
        if bound is not None and claims.get("sub") != bound.get("sub"):
            raise LoginFailed(
                "The identity provider's answer was inconsistent.",
                "The userinfo `sub` differs from the access token's.",
                code="userinfo_mismatch",
            )
        return replace(self.identity(claims, access_token), amr=amr)

    def _front_access_token(self, metadata: ProviderMetadata, token: str) -> dict[str, Any]:
        """RFC 6819 §4.4.2.6: an access token from the front channel identifies someone only
        when it is a JWT the IdP signed for this client; any other token of the same user
        (given to another app of the pool, or to an API) could be injected here."""
        if not is_jws(token):
            raise LoginFailed(
                "This identity provider's answer cannot be verified.",
                f"auth.openidConnect.{self.id}: response_type {self.response_type!r} returned "
                "an opaque access token and no ID token, so nothing shows it was issued to "
                "this client. Use flow: code, or authUrlParams.response_type: "
                "'id_token token'.",
                code="unverifiable_access_token",
            )
        return validate_access_token(
            token,
            self.jwks,
            AccessTokenChecks(
                issuer=metadata.issuer,
                client_id=self.client_id,
                clock_tolerance=self.clock_tolerance,
                token_use_required=self.access_token_use_required,
            ),
        )

    def _checks(
        self,
        metadata: ProviderMetadata,
        login: LoginRequest,
        *,
        access_token: str | None = None,
        access_token_hash_required: bool = False,
        code: str | None = None,
        code_hash_required: bool = False,
    ) -> IdTokenChecks:
        algs = set(metadata.id_token_signing_alg_values_supported) or {"RS256"}
        return IdTokenChecks(
            issuer=metadata.issuer,
            client_id=self.client_id,
            nonce=login.nonce,
            clock_tolerance=self.clock_tolerance,
            allowed_algs=algs,
            access_token=access_token,
            access_token_hash_required=access_token_hash_required,
            code=code,
            code_hash_required=code_hash_required,
        )

    def _client_auth(self, metadata: ProviderMetadata) -> tuple[dict[str, str], Any]:
        """RFC 6749 §2.3.1: client_secret_basic when allowed (its preferred form), else post."""
        secret = self.settings.client_secret
        if not secret:
            return {"client_id": self.client_id}, None
        methods = metadata.token_endpoint_auth_methods_supported or ("client_secret_basic",)
        if "client_secret_basic" in methods:
            # §2.3.1: id and secret are form-urlencoded before Basic encoding.
            return {}, (quote(self.client_id, safe=""), quote(secret, safe=""))
        return {"client_id": self.client_id, "client_secret": secret}, None

    def _exchange(
        self, metadata: ProviderMetadata, login: LoginRequest, code: str
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.1 / RFC 6749 §4.1.3: trade the code (and PKCE verifier)."""
        if metadata.token_endpoint is None:
            raise self._misconfigured("the discovery document has no token_endpoint")
        body, auth = self._client_auth(metadata)
        body |= {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "code_verifier": login.code_verifier,
        }
        response = self.http.request(
            "POST", metadata.token_endpoint, what=f"{self.id} token endpoint", data=body, auth=auth
        )
        if response.status_code in (400, 401):
            try:
                error = response.json().get("error", "")
            except (ValueError, AttributeError):
                error = ""
            raise self._token_error(str(error)[:64], login.redirect_uri)
        if response.status_code >= 500:
            problem = ProviderUnavailable(
                "The identity provider is having problems right now.",
                f"{self.id} token endpoint answered HTTP {response.status_code}.",
                code="idp_unavailable",
            )
            self.discovery.report(problem)
            raise problem
        tokens = json_object(response, f"{self.id} token endpoint")
        token_type = str(tokens.get("token_type", "bearer")).lower()
        if tokens.get("access_token") and token_type not in ("bearer", "dpop"):
            raise LoginFailed(
                "The identity provider's answer could not be used.",
                f"Unsupported token_type {token_type!r}.",
                code="bad_token_response",
            )
        return tokens

    def _token_error(self, error: str, redirect_uri: str) -> LoginFailed:
        if error in ("invalid_client", "unauthorized_client"):
            return LoginFailed(
                "The identity provider refused this application's credentials.",
                f"Check auth.openidConnect.{self.id}.clientId and clientSecret "
                f"(the token endpoint said {error}).",
                code="invalid_client",
            )
        if error == "invalid_grant":
            return LoginFailed(
                "The sign-in could not be completed; please try again.",
                "The token endpoint refused the code (invalid_grant): it expired, was used "
                f"already, or the redirect URI {redirect_uri} is not registered for the client.",
                code="invalid_grant",
            )
        return LoginFailed(
            "The identity provider refused to complete the sign-in.",
            f"The token endpoint answered {error or 'an error'}.",
            code=error or "token_error",
        )

    def _with_userinfo(
        self, metadata: ProviderMetadata, claims: dict[str, Any] | None, access_token: str | None
    ) -> dict[str, Any]:
        """OIDC Core §5.3: merge the UserInfo claims; their `sub` MUST match (§5.3.2)."""
        if metadata.userinfo_endpoint is None or not access_token:
            if claims is None:
                raise LoginFailed(
                    "The identity provider did not identify you.",
                    "No ID token and no userinfo endpoint to ask who signed in.",
                    code="no_identity",
                )
            return claims
        try:
            info = self.http.get_json(
                metadata.userinfo_endpoint,
                what=f"{self.id} userinfo",
                headers={"authorization": f"Bearer {access_token}"},
            )
        except ProviderUnavailable:
            if claims is None:
                raise
            log.warning("userinfo_failed", provider=self.id)
            return claims
        if claims is None:
            # Cognito's `token` response: no ID token, so the identity rests on the access
            # token (checked to be a JWT issued to this client) and the userinfo it opens.
            if not isinstance(info.get("sub"), str) or not info["sub"]:
                raise LoginFailed(
                    "The identity provider did not identify you.",
                    "The userinfo response has no `sub`.",
                    code="no_identity",
                )
            return info
        if info.get("sub") != claims.get("sub"):
            raise LoginFailed(
                "The identity provider's answer was inconsistent.",
                "The userinfo `sub` differs from the ID token's (OIDC Core §5.3.2).",
                code="userinfo_mismatch",
            )
        # The signed ID token wins where both speak.
        return {**info, **claims}

    # -- claims to identity (presets override these hooks) -------------------------------

    def _claim(self, claims: Mapping[str, Any], name: str) -> Any:
        return claims.get(self.settings.claims_mapping.get(name, name))

    def subject(self, claims: Mapping[str, Any]) -> str:
        """`sub` (OIDC Core §2), or the claim named by `claimsMapping.sub` (Dex's userIDKey)."""
        value = self._claim(claims, "sub")
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise LoginFailed(
                "The identity provider did not identify you.",
                f"The claim {self.settings.claims_mapping.get('sub', 'sub')!r} is missing "
                "or not a string (claimsMapping.sub / Dex userIDKey).",
                code="no_identity",
            )
        return str(value)

    def groups(self, claims: Mapping[str, Any], access_token: str | None) -> tuple[str, ...]:
        if not (self.settings.insecure_enable_groups or self.groups_by_default):
            return ()
        value = self._claim(claims, "groups")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return ()
        return tuple(dict.fromkeys(g for g in value if isinstance(g, str) and g))

    def username(self, claims: Mapping[str, Any], email: str | None) -> str:
        """The name to suggest for a new account; `email` is given only when verified (an
        unverified address is a name the user picked, OIDC Core §5.7)."""
        value = self._claim(claims, "preferred_username")
        return value if isinstance(value, str) and value else email or self.subject(claims)

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        """A preset's own acceptance rules (Google's hosted domain)."""

    def identity(self, claims: Mapping[str, Any], access_token: str | None) -> Identity:
        self.check_claims(claims)
        email = self._claim(claims, "email")
        email = email.strip() if isinstance(email, str) and "@" in email else None
        verified = email is not None and email_verified(
            self._claim(claims, "email_verified"),
            skip_verification=self.settings.insecure_skip_email_verified,
        )
        name = self._claim(claims, "name")
        return Identity(
            connector_id=self.id,
            subject=self.subject(claims),
            username=self.username(claims, email if verified else None),
            email=email,
            email_verified=verified,
            name=name if isinstance(name, str) else None,
            groups=self.groups(claims, access_token),
            claims=dict(claims),
        )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
