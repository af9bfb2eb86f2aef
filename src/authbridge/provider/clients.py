"""OAuth clients: what each may do, where it may be sent back, and how it authenticates.

Clients come from the config file (`clients.<id>`), from the database (`authbridge clients
add`), and one built-in public client for the CLI (`authbridge-cli`). Redirect URIs are
compared as exact strings (RFC 9700 §4.1.3); only a loopback `http` redirect may vary its
port, as native apps bind an ephemeral one (RFC 8252 §7.3).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from urllib.parse import unquote_plus, urlsplit

from authbridge.clock import utcnow
from authbridge.config.errors import ConfigError, ConfigIssue
from authbridge.config.model import ClientSettings, Settings
from authbridge.provider.errors import OAuthError
from authbridge.provider.secrets import digest
from authbridge.storage.provider_store import ClientRow

__all__ = [
    "CLI_CLIENT_ID",
    "DEVICE_GRANT",
    "GRANT_TYPES",
    "Client",
    "ClientRegistry",
    "authenticate_client",
    "check_configured_clients",
    "check_redirect_uris",
    "client_problems",
    "loopback_match",
    "presented_credentials",
    "redirect_uri_registered",
    "secret_matches",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = (
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
    DEVICE_GRANT,
)
CLI_CLIENT_ID = "authbridge-cli"
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
MAX_URI_CHARS = 2048
MAX_NAME_CHARS = 256
_NOT_IN_URI = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Client(ClientRow):
    """A client as the protocol sees it: the stored fields, and where it was defined."""

    source: str = "config"

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def allows_response_type(self, response_type: str) -> bool:
        """`code` needs the code grant; `id_token` and `id_token token` the implicit flow."""
        if response_type == "code":
            return self.allows_grant("authorization_code")
        return self.allows_grant("implicit")

    @classmethod
    def from_row(cls, row: ClientRow) -> Client:
        """A client registered in the database."""
        return cls(**asdict(row), source="database")

    def row(self) -> ClientRow:
        """The stored form of a registered client."""
        fields = asdict(self)
        del fields["source"]
        return ClientRow(**fields)

    @classmethod
    def from_settings(cls, client_id: str, settings: ClientSettings) -> Client:
        return cls(
            client_id=client_id,
            name=settings.name or client_id,
            public=settings.public,
            secret_hash=digest(settings.secret) if settings.secret else None,
            redirect_uris=tuple(settings.redirect_uris),
            post_logout_redirect_uris=tuple(settings.post_logout_redirect_uris),
            grant_types=tuple(settings.grant_types),
            allowed_connectors=tuple(settings.allowed_connectors),
            access_token_lifetime=settings.access_token_lifetime,
            refresh_token_lifetime=settings.refresh_token_lifetime,
            refresh_token_idle_timeout=settings.refresh_token_idle_timeout,
            source="config",
        )


def cli_client() -> Client:
    """The `authbridge login` client: public, device grant or loopback redirect with PKCE."""
    return Client(
        client_id=CLI_CLIENT_ID,
        name="authbridge command line",
        public=True,
        redirect_uris=("http://127.0.0.1/callback",),
        grant_types=("authorization_code", "refresh_token", DEVICE_GRANT),
        source="builtin",
    )


def _redirect_uri_problem(uri: str) -> str | None:
    """RFC 6749 §3.1.2: a redirect URI is absolute and has no fragment; RFC 3986 §2 has no
    space or control character in a URI (nor can a database column hold NUL)."""
    if len(uri) > MAX_URI_CHARS:
        return f"longer than {MAX_URI_CHARS} characters"
    if _NOT_IN_URI.search(uri):
        return f"{uri!r} contains a space or a control character"
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.scheme not in ("http", "https")):
        return f"{uri!r} is not an absolute URI"
    if parts.fragment or uri.endswith("#"):
        return f"{uri!r} has a fragment (RFC 6749 §3.1.2)"
    if parts.username or parts.password:
        return f"{uri!r} carries credentials"
    return None


def check_redirect_uris(uris: list[str] | tuple[str, ...]) -> list[str]:
    """Problems with redirect URIs at registration (RFC 6749 §3.1.2: absolute, no fragment)."""
    return [problem for uri in uris if (problem := _redirect_uri_problem(uri)) is not None]


def client_problems(client: Client) -> list[tuple[str, str]]:
    """The one client validator: every problem as (key, message), the key named as in the
    config file (`redirectUris[0]`), for clients from the file and from `clients add` alike.

    client_credentials (RFC 6749 §4.4) issues tokens that speak for a non-person principal;
    a client gets one only as a service account, so a plain client asking for the grant is
    refused here rather than failing at its first token request.
    """
    problems: list[tuple[str, str]] = []
    if not CLIENT_ID.match(client.client_id):
        problems.append(("", "client id: letters, digits and . _ : - (at most 128)"))
    if len(client.name) > MAX_NAME_CHARS or _CONTROL.search(client.name):
        problems.append(("name", f"at most {MAX_NAME_CHARS} characters, no control characters"))
    for key, uris in (
        ("redirectUris", client.redirect_uris),
        ("postLogoutRedirectUris", client.post_logout_redirect_uris),
    ):
        for index, uri in enumerate(uris):
            problem = _redirect_uri_problem(uri)
            if problem is not None:
                problems.append((f"{key}[{index}]", problem))
    for index, grant in enumerate(client.grant_types):
        if grant not in GRANT_TYPES:
            problems.append(
                (
                    f"grantTypes[{index}]",
                    f"unknown grant type {grant!r}; use one of " + ", ".join(GRANT_TYPES),
                )
            )
    for key, lifetime, low, high in (
        ("accessTokenLifetime", client.access_token_lifetime, 60, 86400),
        ("refreshTokenLifetime", client.refresh_token_lifetime, 60, 366 * 86400),
        ("refreshTokenIdleTimeout", client.refresh_token_idle_timeout, 60, 366 * 86400),
    ):
        if lifetime is not None and not low <= lifetime <= high:
            problems.append((key, f"between {low} and {high} seconds"))
    if "client_credentials" in client.grant_types:
        index = client.grant_types.index("client_credentials")
        if client.public:
            problems.append(
                (f"grantTypes[{index}]", "a public client cannot use client_credentials")
            )
        elif client.service_user_id is None:
            problems.append(
                (
                    f"grantTypes[{index}]",
                    "client_credentials tokens need a service account to speak for: create "
                    "one with `authbridge service-accounts add <name>` (its client has this "
                    "grant) instead",
                )
            )
    return problems


def check_configured_clients(settings: Settings) -> None:
    """`clients.<id>` of the config file through the same validator as registered clients;
    raises ConfigError naming each key (`clients.web.redirectUris[0]`)."""
    issues = [
        ConfigIssue(".".join(p for p in ("clients", client_id, key) if p), message)
        for client_id, configured in settings.clients.items()
        for key, message in client_problems(Client.from_settings(client_id, configured))
    ]
    if issues:
        raise ConfigError(issues)


def loopback_match(registered: str, given: str) -> bool:
    """RFC 8252 §7.3: a loopback IP literal redirect matches with any port, nothing else varies."""
    try:
        reg, got = urlsplit(registered), urlsplit(given)
        got_port = got.port
    except ValueError:
        return False
    if reg.scheme != "http" or got.scheme != "http":
        return False
    if reg.hostname not in LOOPBACK_HOSTS or got.hostname != reg.hostname:
        return False
    if got.username or got.password or got.fragment or given.endswith("#"):
        return False
    # Rebuild the given URI without its port: every other character must be identical.
    host = f"[{got.hostname}]" if got.hostname == "::1" else got.hostname
    port_free = given.replace(f"{host}:{got_port}", host, 1) if got_port else given
    reg_host = f"[{reg.hostname}]" if reg.hostname == "::1" else reg.hostname
    reg_port_free = (
        registered.replace(f"{reg_host}:{reg.port}", reg_host, 1) if reg.port else registered
    )
    return port_free == reg_port_free


def redirect_uri_registered(client: Client, given: str) -> bool:
    """Exact string match (RFC 9700 §4.1.3), or the loopback port exception."""
    if given in client.redirect_uris:
        return True
    return any(loopback_match(uri, given) for uri in client.redirect_uris)


class ClientRegistry:
    """Clients by id: config first, then the built-in CLI client, then the database."""

    def __init__(
        self,
        configured: Mapping[str, ClientSettings],
        lookup: Callable[[str], Client | None],
    ) -> None:
        for client_id, settings in configured.items():
            problems = client_problems(Client.from_settings(client_id, settings))
            if problems:
                # `config check` and start-up refuse these first; this keeps a library user
                # from building a provider over them.
                key, message = problems[0]
                raise ValueError(f"clients.{client_id}.{key}: {message}")
        self._static = {cid: Client.from_settings(cid, s) for cid, s in configured.items()}
        self._static.setdefault(CLI_CLIENT_ID, cli_client())
        self._lookup = lookup
        self._cache: dict[str, tuple[float, Client]] = {}

    def get(self, client_id: str | None) -> Client | None:
        """A client by id. Registered clients are cached for CACHE_SECONDS: every token
        request needs its client, and a removal takes effect within that time."""
        if not client_id or len(client_id) > 128 or not client_id.isprintable():
            return None  # (PostgreSQL refuses NUL in text; no client id has controls)
        static = self._static.get(client_id)
        if static is not None:
            return static
        now = time.monotonic()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = self._lookup(client_id)
        if found is None:
            self._cache.pop(client_id, None)
        else:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[client_id] = (now + CACHE_SECONDS, found)
        return found

    def forget(self, client_id: str) -> None:
        """Drop a cached client (all of them for "": a resync after missed changes)."""
        if client_id:
            self._cache.pop(client_id, None)
        else:
            self._cache.clear()

    def static_ids(self) -> set[str]:
        return set(self._static)

    def static_clients(self) -> list[Client]:
        return list(self._static.values())


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """client_secret_basic (RFC 6749 §2.3.1): both halves are form-urlencoded first."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", status=401) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "malformed Basic credentials", status=401)
    return unquote_plus(client_id), unquote_plus(secret)


def presented_credentials(authorization: str | None, form: Mapping[str, str]) -> tuple[str, str]:
    """(client_id, secret) as presented, by one method only (RFC 6749 §2.3); "" if absent."""
    basic = _basic_credentials(authorization)
    posted_secret = form.get("client_secret")
    if basic is not None and posted_secret is not None:
        raise OAuthError(
            "invalid_request", "use one client authentication method, not Basic and a posted secret"
        )
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id") not in (None, client_id):
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
    else:
        client_id, secret = form.get("client_id", ""), posted_secret or ""
    return client_id, secret


def authenticate_client(
    registry: ClientRegistry,
    authorization: str | None,
    form: Mapping[str, str],
    *,
    allow_public: bool = True,
    presented: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> Client:
    """Identify and authenticate the client of a token, revocation or introspection request.

    RFC 6749 §2.3: a client uses one method per request; a confidential client must
    authenticate; a public client only identifies itself with `client_id`. `presented`:
    the caller's `presented_credentials(authorization, form)`, so it is not parsed twice;
    `now`: the caller's clock, for a rotated-out secret's expiry.
    """
    client_id, secret = presented or presented_credentials(authorization, form)
    if not client_id:
        raise OAuthError("invalid_client", "client authentication is required", status=401)
    client = registry.get(client_id)
    failed = OAuthError("invalid_client", "unknown client or wrong secret", status=401)
    if client is None:
        raise failed
    if client.public:
        if secret:
            raise failed
        if not allow_public:
            raise OAuthError(
                "invalid_client", "this endpoint needs a confidential client", status=401
            )
        return client
    if not secret or client.secret_hash is None:
        raise failed
    if not secret_matches(client, secret, now if now is not None else utcnow()):
        raise failed
    return client


# Compared against when a client has no live previous secret, so that every authentication
# does the same work whichever secret (if any) matches.
_NO_DIGEST = "0" * 64


def secret_matches(client: ClientRow, secret: str, now: datetime) -> bool:
    """RFC 6749 §2.3.1: the presented secret is the client's current one, or the one a
    rotation replaced while that is unexpired (zero-downtime rotation).

    Both digests are compared every time, in constant time, and combined without
    short-circuit: the timing says neither whether it matched nor which one did."""
    presented = digest(secret)
    current = hmac.compare_digest(presented, client.secret_hash or _NO_DIGEST)
    previous_digest = client.previous_secret_live(now)
    previous = hmac.compare_digest(presented, previous_digest or _NO_DIGEST)
    return bool(
        (current & (client.secret_hash is not None)) | (previous & (previous_digest is not None))
    )
