"""The settings model: every key authbridge reads, its type, default and meaning.

The `auth:` block follows Astronomer's Houston keys (`auth.local.enabled`,
`auth.openidConnect.flow`, `auth.openidConnect.<provider>.clientId`, ...), so that a
platform team can carry its existing configuration over unchanged. The other sections
are authbridge's own. Keys are camelCase in files; Python attributes are snake_case.

Over 400 lines because it is the whole key tree in one place: the schema walker, the
environment names and the key suggestions of `config check` all read it as one model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from authbridge.config.branding import BrandingSettings
from authbridge.config.ldap import LdapSettings, ldap_id_problem
from authbridge.config.saml import SamlProviderSettings
from authbridge.config.section import ConnectorSignup, DomainSignup, Section
from authbridge.config.workers import Workers

__all__ = [
    "AuditSettings",
    "AuthSettings",
    "AuthorizerSettings",
    "BrandingSettings",
    "ClientSettings",
    "DatabaseSettings",
    "GithubSettings",
    "LdapSettings",
    "LocalAuthSettings",
    "LoggingSettings",
    "OidcProviderSettings",
    "OpenidConnectSettings",
    "PasswordHashSettings",
    "RateLimitSettings",
    "RoleSettings",
    "ScimSettings",
    "ScimSourceSettings",
    "ScimTeamRoleRule",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SmtpSettings",
    "TeamSettings",
    "TelemetrySettings",
    "TokenSettings",
]


def listener_url(host: str, port: int) -> str:
    """The URL of a listener, as the default issuer: a wildcard address is no address a
    browser can reach, so it is named localhost; an IPv6 literal takes brackets (RFC 3986
    §3.2.2)."""
    name = "localhost" if host in ("", "0.0.0.0", "::") else host  # noqa: S104
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


class ServerSettings(Section):
    issuer: str = Field(
        default="http://localhost:8080",
        description="Public base URL of this service; the `iss` of every token it signs. "
        "Unset: http://localhost:<port> (or the listening host, when it is not a wildcard).",
    )
    host: str = Field(default="0.0.0.0", description="Address to listen on.")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For is believed.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key for CSRF tokens; generated and stored in the database if unset.",
        json_schema_extra={"secret": True},
    )
    max_request_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body outside SCIM (forms, the token endpoint); refused "
        "with 413 while it streams. SCIM has scim.maxRequestBytes.",
    )
    max_form_fields: int = Field(default=100, ge=1, description="Most fields in one form body.")
    max_form_field_bytes: int = Field(
        default=32 * 1024, ge=256, description="Largest single field of a form body."
    )
    management_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A second listener for /healthz, /readyz and /metrics (as Keycloak's 9000, "
        "Dex's 5558); when set, /metrics leaves the public port (health stays on both).",
    )
    management_host: str | None = Field(
        default=None,
        description="Address of the management listener; unset: server.host. In Kubernetes "
        "keep it on the pod's address: the kubelet probes and Prometheus scrapes the pod IP.",
    )
    shutdown_grace_period: int = Field(
        default=25,
        ge=0,
        le=3600,
        description="Seconds in-flight requests get to finish after SIGTERM (stop accepting, "
        "drain, exit 0); keep it under Kubernetes' terminationGracePeriodSeconds (30).",
    )

    workers: Workers = Field(
        default=1,
        description="Worker processes of `serve`, sharing the port: a positive "
        "integer (default 1: scale with replicas, whose /metrics each count one process), "
        "or auto: the CPUs this process may use (its CPU affinity, capped by the "
        "cgroup v2 quota in /sys/fs/cgroup/cpu.max rounded up), no more than its cgroup memory "
        "limit holds at 192 MiB a process (the parent counts too), at least 1; and 1 on SQLite "
        "without redis.url (no change bus between processes). 1 runs the service in the "
        "`serve` process itself; each worker more costs its own memory.",
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_positive_or_auto(cls, value: object) -> object:
        # One message for every wrong value, rather than one per member of the union.
        # The default is 1, not auto: each worker keeps its own metrics registry, so a
        # /metrics scrape sees one worker's counters and rates over scrapes that land on
        # different workers are wrong; Kubernetes scales by replicas of one process, each
        # scraped alone. auto is there for a host or VM run without an orchestrator: the
        # process count a CPU limit pays for (a container given 2 CPUs on a 64-core node
        # runs 2, not 64), no more than its memory limit holds (config/workers.py); on the
        # embedded SQLite default (without Redis) auto is 1: there is no change bus between
        # processes there, so a change made through one worker would reach the others only
        # at their periodic reloads (a revoked SCIM credential up to 30 s, a removed client
        # 2 s), and SQLite queues every write on one file whatever the workers.
        # An explicit number is obeyed on SQLite too.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if value == "auto" or (type(value) is int and value >= 1):
            return value
        raise ValueError('must be a positive integer (worker processes) or "auto" (one per CPU)')

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        # OIDC Discovery §3: the issuer is an https URL with no query or fragment;
        # http is tolerated for local development.
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://auth.example.com")
        if "?" in value or "#" in value:
            raise ValueError("must not contain a query or fragment (OIDC Discovery §3)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _issuer_defaults_to_the_listener(self) -> ServerSettings:
        # Unset, the issuer is where the service listens (not a fixed localhost:8080 that
        # `server.port: 9000` or `serve --port` would leave pointing at nothing). Written
        # around the frozen model: this is still its construction.
        if "issuer" not in self.model_fields_set:
            object.__setattr__(self, "issuer", listener_url(self.host, self.port))
        return self

    @property
    def https(self) -> bool:
        return self.issuer.startswith("https://")

    @model_validator(mode="after")
    def _management_port_is_its_own(self) -> ServerSettings:
        if self.management_port is not None and self.management_port == self.port:
            raise ValueError(
                f"managementPort {self.management_port} is server.port too: give the "
                "management listener a port of its own (e.g. 9000)"
            )
        return self

    @property
    def management_address(self) -> str:
        """Where the management listener binds: `managementHost`, else `host`."""
        return self.management_host if self.management_host is not None else self.host

    def listening_on(
        self, host: str | None, port: int | None, workers: str | None = None
    ) -> ServerSettings:
        """These settings with `serve --host/--port/--workers` applied; an issuer that was
        not configured follows the listener."""
        given = (("host", host), ("port", port), ("workers", workers))
        overrides = {name: value for name, value in given if value is not None}
        if not overrides:
            return self
        return ServerSettings.model_validate({**self.model_dump(exclude_unset=True), **overrides})


class DatabaseSettings(Section):
    url: str = Field(
        default="sqlite:///authbridge.db",
        description="SQLAlchemy URL: SQLite file (embedded default) or postgresql://...",
        json_schema_extra={"secret": "url-password"},
    )
    pool_size: int = Field(
        default=10,
        ge=1,
        description="Pooled connections per worker (PostgreSQL). Under load a worker opens "
        "up to 3.5 times as many: twice this for transactions, the rest for the token "
        "endpoint's one-statement grants (docs/architecture.md).",
    )
    pool_timeout: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds a request waits for a free pooled connection before a 503.",
    )
    connect_timeout: float = Field(
        default=3.0, ge=1, le=60, description="Seconds to open a database connection."
    )
    statement_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds one statement may run (PostgreSQL statement_timeout, SQLite busy "
        "timeout); a database that stops answering is given up on a second later.",
    )

    @field_validator("url")
    @classmethod
    def _supported_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        return value


class TokenSettings(Section):
    algorithm: Literal["ES256", "RS256"] = Field(
        default="ES256", description="Signing algorithm of new keys."
    )
    access_token_lifetime: int = Field(
        default=3600, ge=60, le=86400, description="Seconds an access token is valid."
    )
    id_token_lifetime: int = Field(
        default=3600, ge=60, le=86400, description="Seconds an ID token is valid."
    )
    audience: list[str] = Field(
        default_factory=list,
        description="`aud` of platform access tokens; defaults to the issuer.",
    )
    key_encryption_key: str | None = Field(
        default=None,
        description="Encrypts private signing keys at rest (AES-256-GCM); keep it out of the DB.",
        json_schema_extra={"secret": True},
    )
    key_reload_interval: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="Seconds between re-reads of the key set (rotations by other replicas).",
    )
    key_publish_ahead: int = Field(
        default=600,
        ge=0,
        description="Seconds a new key is published before it signs (JWKS caches refresh); "
        "at least keyReloadInterval.",
    )
    key_rotation_interval: int | None = Field(
        default=90 * 86400,
        ge=3600,
        description="Seconds a signing key should sign before it is rotated: the console shows "
        "when the next rotation is due (rotating stays an operator's act); null: no schedule.",
    )

    @model_validator(mode="after")
    def _publish_ahead_covers_reload(self) -> TokenSettings:
        # A replica re-reads the key set every keyReloadInterval: a key that signed sooner
        # than that after its rotation would reach verifiers whose replica does not yet
        # publish it.
        if self.key_publish_ahead < self.key_reload_interval:
            raise ValueError(
                f"keyPublishAhead ({self.key_publish_ahead} s) must be at least "
                f"keyReloadInterval ({self.key_reload_interval} s): other replicas would not "
                "publish a new key yet when it starts signing"
            )
        return self


class SessionSettings(Section):
    idle_timeout: int = Field(
        default=8 * 3600,
        ge=60,
        description="Seconds of inactivity after which a browser session ends.",
    )
    absolute_lifetime: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="Seconds after sign-in a browser session ends, however active.",
    )
    max_per_user: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Browser sessions one user may hold; a new sign-in ends the oldest.",
    )


class PasswordHashSettings(Section):
    """argon2id cost; OWASP Password Storage Cheat Sheet minimum is m=19 MiB, t=2, p=1."""

    memory_cost: int = Field(default=19456, ge=19456, description="KiB")
    time_cost: int = Field(default=2, ge=2, description="argon2id passes (RFC 9106 §4).")
    parallelism: int = Field(default=1, ge=1, description="argon2id lanes (RFC 9106 §4).")


class RateLimitSettings(Section):
    """Throttles on failed sign-ins; every limit is a window, never a permanent lock."""

    window: int = Field(default=900, ge=1, description="Seconds over which failures count.")
    per_account_and_address: int = Field(
        default=5, ge=1, description="Failed sign-ins per account from one address per window."
    )
    per_address: int = Field(
        default=50, ge=1, description="Failed sign-ins from one address per window."
    )
    per_account: int = Field(
        default=100, ge=1, description="Failed sign-ins per account from all addresses per window."
    )


# Whether local accounts use a second factor after the password (directory/totp.py).
MfaPolicy = Literal["off", "optional", "required"]


# WebAuthn Level 2 §5.8.6 UserVerificationRequirement (directory/passkeys.py).
UserVerification = Literal["preferred", "required", "discouraged"]


class PasskeySettings(Section):
    enabled: bool = Field(
        default=True,
        description="Local accounts may register passkeys (WebAuthn) and sign in with one "
        "without a password, or as the second step when auth.local.mfa is not off.",
    )
    user_verification: UserVerification = Field(
        default="preferred",
        description="Whether a passkey used as a second factor, or registered, must verify "
        "its user (PIN, biometric): preferred, required or discouraged. A sign-in without "
        "a password always requires it.",
    )


class LocalAuthSettings(Section):
    enabled: bool = Field(
        default=True, description="Local accounts (username or email and password)."
    )
    allow_signup: bool = Field(default=True, description="Anyone may create an account.")
    password_hash: PasswordHashSettings = Field(default_factory=PasswordHashSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    mfa: MfaPolicy = Field(
        default="optional",
        description="Local accounts' second factor (TOTP, RFC 6238): off, optional (each "
        "user may enrol), or required (a user without one enrols at the next sign-in).",
    )
    mfa_required_for_admins: bool = Field(
        default=False,
        description="Users holding an administration permission must use a second factor "
        "(they enrol at the next sign-in), whatever auth.local.mfa says: local and LDAP "
        "administrators take the local second step; an OIDC or SAML IdP must prove one "
        "(amr), else the sign-in is refused (docs/mfa.md).",
    )
    passkeys: PasskeySettings = Field(default_factory=PasskeySettings)


# Where authbridge serves the code-flow callback: its own path, and Dex's, so that an IdP
# app registered for Pachyderm (`https://<host>/dex/callback`) needs no change.
CALLBACK_PATHS = ("/v1/oauth/callback/", "/dex/callback")


# Who a first login through a connector may make an account for: anyone (`open`), or only
# someone an administrator invited, matched by the email the IdP proved (`invite-only`).


def _served_redirect_uri(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, rest = value.partition("://")
    path = "/" + rest.partition("/")[2].partition("?")[0]
    if scheme not in ("https", "http") or "#" in value or path not in CALLBACK_PATHS:
        raise ValueError(
            "must be an http(s) URL ending in /dex/callback or /v1/oauth/callback/ "
            "(the paths authbridge serves)"
        )
    return value


class OAuthAppSettings(ConnectorSignup):
    """The keys of an OAuth application registered at an IdP (OIDC providers, GitHub)."""

    enabled: bool = Field(default=False, description="Show this provider's button.")
    client_id: str | None = Field(default=None, description="The client id registered at the IdP.")
    client_secret: str | None = Field(
        default=None,
        description="The client secret (code flow).",
        json_schema_extra={"secret": True},
    )


class OidcProviderSettings(OAuthAppSettings, DomainSignup):
    """One `auth.openidConnect.<name>` block (Astronomer's keys, plus Dex's options)."""

    discovery_url: str | None = Field(
        default=None,
        description="URL of the IdP's openid-configuration; unset: <issuer>/.well-known/"
        "openid-configuration, or the preset's.",
    )
    issuer: str | None = Field(
        default=None, description="The IdP's issuer; the `iss` its ID tokens must carry."
    )
    base_domain: str | None = Field(
        default=None,
        description="The IdP's domain (Okta's `example.okta.com`): presets build URLs from "
        "it, and the IdP's endpoints must live under it.",
    )
    display_name: str | None = Field(default=None, description="Label of the sign-in button.")
    auth_url_params: dict[str, str] = Field(
        default_factory=dict,
        description="Extra parameters of the authorization request (`prompt`, `hd`, ...).",
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description="Scopes asked of the IdP.",
    )
    type: str | None = Field(
        default=None, description="Connector type; defaults to the provider name or `oidc`."
    )
    insecure_enable_groups: bool = Field(
        default=False,
        description="Read the `groups` claim into idp:<name> teams (the IdP must be "
        "trusted to assert them).",
    )
    insecure_skip_email_verified: bool = Field(
        default=False,
        description="Treat the IdP's email as verified when it sends no email_verified.",
    )
    insecure_skip_issuer_callback_domain_check: bool = Field(
        default=False,
        description="Allow the IdP's endpoints outside the issuer's domain or baseDomain.",
    )
    claims_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Claim to read for sub, name, preferred_username, email, email_verified "
        "or groups (Dex's userIDKey, userNameKey and claimMapping).",
    )
    redirect_uri: str | None = Field(
        default=None,
        description="Code-flow redirect URI registered at the IdP; <issuer>/v1/oauth/callback/ "
        "if unset, or a URL ending in /dex/callback (a Pachyderm/Dex registration).",
    )
    require_mfa: bool = Field(
        default=False,
        description="Refuse a sign-in whose ID token does not prove a second factor: `acr` in "
        "acrValues, or an `amr` of two factors or `mfa` (docs/mfa.md).",
    )
    acr_values: list[str] = Field(
        default_factory=list,
        description="acr_values sent to the IdP (OIDC Core §3.1.2.1); with requireMfa, an "
        "ID token `acr` among them proves the second factor.",
    )
    max_age: int | None = Field(
        default=None,
        ge=0,
        description="Seconds: max_age sent to the IdP; an ID token whose auth_time is older "
        "is refused (OIDC Core §3.1.3.7).",
    )

    _redirect_uri = field_validator("redirect_uri")(_served_redirect_uri)

    @field_validator("acr_values")
    @classmethod
    def _acr_tokens(cls, value: list[str]) -> list[str]:
        # acr_values is a space-separated list on the wire (OIDC Core §3.1.2.1).
        if any(not v or v.split() != [v] for v in value):
            raise ValueError("each value must be one non-empty token without spaces")
        return value


class GithubSettings(OAuthAppSettings):
    display_name: str | None = Field(default=None, description="Label of the sign-in button.")
    allowed_organizations: list[str] = Field(
        default_factory=list,
        description="Only members of these organizations may sign in; empty: anyone.",
    )
    base_url: str = Field(
        default="https://github.com", description="GitHub (Enterprise Server) web URL."
    )
    api_url: str = Field(
        default="https://api.github.com", description="GitHub REST API URL (GHES: <host>/api/v3)."
    )
    redirect_uri: str | None = Field(
        default=None,
        description="Callback URL of the OAuth app; <issuer>/v1/oauth/callback/ if unset, or "
        "a URL ending in /dex/callback (a Pachyderm/Dex registration).",
    )
    require_mfa: bool = Field(
        default=False,
        description="Not possible: GitHub issues no ID token (no acr/amr); false only.",
    )

    _redirect_uri = field_validator("redirect_uri")(_served_redirect_uri)

    @field_validator("require_mfa")
    @classmethod
    def _no_mfa_proof(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "GitHub's OAuth apps return no ID token, so nothing says how the person "
                "signed in (no acr/amr) and a second factor cannot be confirmed; require 2FA "
                "in the GitHub organization instead, or sign in through an OpenID Connect IdP"
            )
        return value


# Presets whose implicit flow answers with an access token only (connectors/presets.py).
ID_TOKENLESS_IMPLICIT = frozenset({"cognito"})


class OpenidConnectSettings(Section):
    """`auth.openidConnect`: the flow, the clock tolerance, and one block per provider.

    Provider names are free (`okta`, `custom`, `corp-sso`), so every key other than
    `flow` and `clockTolerance` is a provider block.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    flow: Literal["implicit", "code"] = Field(
        default="implicit",
        description="How the browser signs in at the IdPs: implicit (Astronomer's default) or "
        "code (authorization code with PKCE).",
    )
    clock_tolerance: int = Field(
        default=0, ge=0, le=600, description="Seconds of clock skew allowed on IdP tokens."
    )
    providers: dict[str, OidcProviderSettings] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_providers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixed = {"flow", "clockTolerance", "clock_tolerance", "providers"}
        providers = dict(data.get("providers") or {})
        rest = {}
        for key, value in data.items():
            if key in fixed:
                rest[key] = value
            else:
                providers[key] = value
        rest["providers"] = providers
        return rest

    @model_validator(mode="after")
    def _mfa_needs_id_tokens(self) -> OpenidConnectSettings:
        """requireMfa is proven by ID token claims: a connector answering with an access
        token only (Cognito's implicit `token`) cannot prove it."""
        problems = []
        for name, provider in self.providers.items():
            if not provider.require_mfa or self.flow == "code":
                continue
            kind = provider.type or name
            default = "token" if kind in ID_TOKENLESS_IMPLICIT else "id_token token"
            asked = provider.auth_url_params.get("response_type") or default
            if "id_token" not in asked.split():
                problems.append(
                    f"auth.openidConnect.{name}.requireMfa: response_type {asked!r} returns "
                    "no ID token, so nothing can prove a second factor; use flow: code or "
                    "authUrlParams.response_type: 'id_token token'"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MockAuthSettings(Section):
    """The built-in mock IdP, offered while no upstream IdP is configured."""

    allow_remote: bool = Field(
        default=False,
        description="Let callers other than this machine (loopback) use the mock IdP, which "
        "signs in whoever is typed: off, a service listening on 0.0.0.0 is not open to all.",
    )


class AuthSettings(Section):
    local: LocalAuthSettings = Field(default_factory=LocalAuthSettings)
    mock: MockAuthSettings = Field(default_factory=MockAuthSettings)
    openid_connect: OpenidConnectSettings = Field(default_factory=OpenidConnectSettings)
    github: GithubSettings = Field(default_factory=GithubSettings)
    saml: dict[str, SamlProviderSettings] = Field(
        default_factory=dict, description="SAML 2.0 IdPs by connector id (config/saml.py)."
    )
    ldap: dict[str, LdapSettings] = Field(
        default_factory=dict,
        description="LDAP / Active Directory connectors by id (Dex's ldap keys): a "
        "username and password form each on the login page.",
    )

    @model_validator(mode="after")
    def _ldap_ids(self) -> AuthSettings:
        # One namespace of connector ids: sessions, teams (`idp:<id>`) and metrics name them.
        taken = {*self.openid_connect.providers, "github"}
        problems = [p for p in map(ldap_id_problem, self.ldap) if p]
        problems += [
            f"{name!r} is also an auth.openidConnect or auth.github connector: ids are shared"
            for name in self.ldap
            if name in taken
        ]
        if problems:
            raise ValueError("auth.ldap: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _saml_ids(self) -> AuthSettings:
        # The same shared namespace; a SAML id is also a path segment of its ACS URL.
        taken = {*self.openid_connect.providers, "github", *self.ldap}
        problems = [
            p.replace("an LDAP connector id", "a SAML connector id")
            for p in map(ldap_id_problem, self.saml)
            if p
        ]
        problems += [
            f"{name!r} is also an auth.openidConnect, auth.github or auth.ldap connector: "
            "ids are shared"
            for name in self.saml
            if name in taken
        ]
        if problems:
            raise ValueError("auth.saml: " + "; ".join(problems))
        return self


class AuthorizerSettings(Section):
    """OpenMetadata's authorizer keys."""

    initial_admins: list[str] = Field(
        default_factory=list,
        description="Usernames or emails (or the local part of an email) made admins.",
    )
    principal_domain: str | None = Field(
        default=None, description="Only emails of this domain may sign up."
    )


class ClientSettings(Section):
    """One OAuth client of the platform's OpenID Provider (`clients.<clientId>`)."""

    name: str = Field(default="", description="Name shown on the sign-in page.")
    public: bool = Field(
        default=False, description="No secret (SPA, CLI): PKCE S256 is then required."
    )
    secret: str | None = Field(
        default=None,
        description="Secret of a confidential client (client_secret_basic or _post).",
        json_schema_extra={"secret": True},
    )
    redirect_uris: list[str] = Field(
        default_factory=list,
        description="Exact redirect URIs; only a loopback http URI may vary its port (RFC 8252).",
    )
    post_logout_redirect_uris: list[str] = Field(
        default_factory=list,
        description="Where RP-initiated logout may return (exact match).",
    )
    grant_types: list[str] = Field(
        default_factory=lambda: ["authorization_code", "refresh_token"],
        description="authorization_code, implicit, refresh_token, client_credentials, "
        "urn:ietf:params:oauth:grant-type:device_code",
    )
    allowed_connectors: list[str] = Field(
        default_factory=list, description="Connector ids a user may sign in with (all if empty)."
    )
    access_token_lifetime: int | None = Field(
        default=None, ge=60, le=86400, description="Seconds; unset: tokens.accessTokenLifetime."
    )
    refresh_token_lifetime: int = Field(default=30 * 86400, ge=60, description="Absolute.")
    refresh_token_idle_timeout: int = Field(
        default=7 * 86400,
        ge=60,
        description="Seconds an unused refresh token stays valid.",
    )


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Least severe level logged; info logs every request."
    )
    format: Literal["json", "console"] = Field(
        default="json", description="json: one JSON object a line; console: for people."
    )


class ScimSourceSettings(Section):
    """One provisioning client (`scim.okta`, `scim.microsoft`): its credential and its IdP.

    Astronomer's env names `SCIM_AUTH_CODE_OKTA` (`user:password`, HTTP Basic) and
    `SCIM_AUTH_CODE_MICROSOFT` (a bearer token) are honoured as well as `SCIM__OKTA__AUTH_CODE`.
    """

    auth_code: str | None = Field(
        default=None,
        description="Okta: `username:password` (HTTP Basic). Microsoft: the bearer token.",
        json_schema_extra={"secret": True},
    )
    connector_id: str | None = Field(
        default=None,
        description="Login connector whose users attach to this source's accounts "
        "(defaults to the source name).",
    )
    authoritative: bool = Field(
        default=False,
        description="Only people this source provisioned (and has not deleted or "
        "deactivated) may sign in through its connector; others are refused and audited.",
    )


class ScimTeamRoleRule(Section):
    """Teams whose name matches `match` (a shell pattern, case-insensitive) give their members
    `roles` at `scope`, whatever made the team (SCIM, IdP login claims, an admin)."""

    match: str = Field(
        min_length=1, description="Shell pattern of team names, case-insensitive (`data-*`)."
    )
    roles: list[str] = Field(default_factory=list, description="Roles the members get.")
    scope: str = Field(
        default="system",
        description="system, or a platform scope pattern filled from the team: "
        "workspace:{displayName}, deployment:{externalId}, workspace:{id}.",
    )
    sources: list[str] | None = Field(
        default=None,
        description="Only teams managed by these sources (scim:<source>, idp:<connector>, "
        "local); every team when unset. Limit it where users can create groups at the IdP.",
    )

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        problems = [p for p in map(team_source_problem, value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return list(dict.fromkeys(value))


class RoleSettings(Section):
    """A role defined in configuration (`roles.<name>`), beside the built-in admin, editor
    and viewer: a description and the permissions `require_permission` checks."""

    description: str = Field(
        default="", max_length=256, description="What the role is for, shown to admins."
    )
    permissions: list[str] = Field(
        default_factory=list, description="Permission names, e.g. deployments.create."
    )


class ScimSettings(Section):
    """SCIM 2.0 provisioning (RFC 7643/7644) at `/v1/scim/v2/{okta|microsoft}`."""

    okta: ScimSourceSettings = Field(default_factory=ScimSourceSettings)
    microsoft: ScimSourceSettings = Field(default_factory=ScimSourceSettings)
    team_roles: list[ScimTeamRoleRule] = Field(
        default_factory=list,
        description="Templates: team name patterns to roles at a scope, for every team.",
    )
    default_roles: list[str] = Field(
        default_factory=lambda: ["viewer"], description="Roles of every provisioned user."
    )
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest SCIM request body."
    )
    max_results: int = Field(default=1000, ge=1, le=10000, description="Largest page size.")
    max_filter_length: int = Field(
        default=2048, ge=64, description="Longest SCIM filter, in characters."
    )
    max_filter_terms: int = Field(
        default=64, ge=1, description="Most comparisons in one SCIM filter."
    )


SCIM_SOURCES = ("okta", "microsoft")


def team_source_problem(value: str) -> str | None:
    """Why `value` is not a membership source (`scim:<source>`, `idp:<connector>`,
    `local`), or None."""
    kind, _, name = value.partition(":")
    if value == "local":
        return None
    if kind == "scim" and name in SCIM_SOURCES:
        return None
    if kind == "scim":
        return f"{value!r}: SCIM sources are {', '.join('scim:' + s for s in SCIM_SOURCES)}"
    if kind == "idp" and name and "/" not in name:
        return None
    return f"{value!r} is not a source; write scim:<source>, idp:<connector> or local"


class TeamSettings(Section):
    """One team whose members come from several sources (`teams.<name>`): a SCIM group and
    an IdP login group of that name are then the same team (same id). `managedBy` owns the
    team (its name, its deletion); members are the union of what each source says."""

    sources: list[str] = Field(
        min_length=1,
        description="Membership sources of this team: scim:<source>, idp:<connector>, local.",
    )
    managed_by: str | None = Field(
        default=None, description="The source that owns the team; the first of `sources`."
    )

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        problems = [p for p in map(team_source_problem, value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        if len([s for s in value if s.startswith("scim:")]) > 1:
            # One SCIM group per team: each source's PATCH replaces its own member set.
            raise ValueError("at most one scim:<source> per team")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _owner_is_a_source(self) -> TeamSettings:
        if self.managed_by is not None and self.managed_by not in self.sources:
            raise ValueError(f"managedBy {self.managed_by!r} must be one of sources {self.sources}")
        return self

    @property
    def owner(self) -> str:
        return self.managed_by or self.sources[0]


class RedisSettings(Section):
    """Redis, when configured: rate-limit counters, replay caches and change notifications
    shared by every replica, expiring in Redis; without it the database carries them."""

    url: str | None = Field(
        default=None,
        description="redis:// or rediss:// URL (a password in it is a secret).",
        json_schema_extra={"secret": True},
    )
    key_prefix: str = Field(
        default="authbridge:",
        min_length=1,
        max_length=64,
        description="Prefix of every key authbridge writes, so deployments can share a Redis.",
    )
    timeout: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="Seconds to connect or to wait for one answer; past it the request "
        "that needed Redis answers 503 instead of hanging.",
    )

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class SmtpSettings(Section):
    """Outgoing mail (invitations, password reset, email verification); off unless `host`
    is set. Sent from a background thread: no request waits on the SMTP server."""

    host: str | None = Field(default=None, description="SMTP server; unset: no mail is sent.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    username: str | None = Field(
        default=None, description="SMTP AUTH user; unset: no authentication."
    )
    password: str | None = Field(
        default=None, description="SMTP AUTH password.", json_schema_extra={"secret": True}
    )
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (RFC 3207, port 587), tls (implicit TLS, RFC 8314, port 465), "
        "or none (loopback relays only: credentials are never sent without TLS).",
    )
    ca_file: str | None = Field(
        default=None, description="PEM file of the CA the server's certificate chains to."
    )
    from_address: str = Field(
        default="authbridge@localhost", max_length=320, description="Sender address."
    )
    from_name: str = Field(default="authbridge", max_length=128, description="Sender display name.")
    timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds per SMTP step.")
    templates_dir: str | None = Field(
        default=None,
        description="Directory whose files override the mail templates of the same name.",
    )

    @property
    def configured(self) -> bool:
        return bool(self.host)


class TelemetrySettings(Section):
    """OpenTelemetry traces, off by default: set `otlpEndpoint` (or the standard
    OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) to export them."""

    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL (traces go to <url>/v1/traces), e.g. "
        "http://otel-collector:4318. Unset: OTEL_EXPORTER_OTLP_ENDPOINT, else no tracing.",
    )
    service_name: str = Field(
        default="authbridge", min_length=1, description="The traces' service.name."
    )

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as http://otel-collector:4318")
        return value


class AuditSettings(Section):
    """The audit log (audit/log.py): every admin action, sign-in, token event, SCIM write
    and key rotation, stored and also written as a JSON log line."""

    enabled: bool = Field(
        default=True,
        description="Store events in the database (off: only the JSON log lines are kept).",
    )
    retention_days: int = Field(
        default=90, ge=1, le=3650, description="Events older than this are deleted."
    )


class Settings(Section):
    """The whole configuration."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    authorizer: AuthorizerSettings = Field(default_factory=AuthorizerSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    scim: ScimSettings = Field(default_factory=ScimSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    roles: dict[str, RoleSettings] = Field(
        default_factory=dict,
        description="Roles beside the built-in admin, editor and viewer, by name.",
    )
    teams: dict[str, TeamSettings] = Field(
        default_factory=dict,
        description="Teams fed by several membership sources, by team name "
        "(`teams.<name>.sources: [scim:okta, idp:okta]`).",
    )
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    branding: BrandingSettings = Field(default_factory=BrandingSettings)
    clients: dict[str, ClientSettings] = Field(
        default_factory=dict, description="OAuth clients of the OpenID Provider, by client id."
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Variables the file sets that are not settings keys (Houston's "
        "`astronomer.houston.env`/`.secret`: GLOBAL_AGENT_HTTPS_PROXY, SCIM_AUTH_CODE_OKTA); "
        "a variable of the process environment wins.",
        json_schema_extra={"secret": True},
    )

    def environ(self, process: Mapping[str, str]) -> dict[str, str]:
        """The environment outbound HTTP and SCIM read: the file's variables under the
        process's own (a real variable wins)."""
        return {**self.environment, **process}

    @property
    def access_token_audience(self) -> list[str]:
        return list(self.tokens.audience) or [self.server.issuer]
