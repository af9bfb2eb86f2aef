"""Trust configuration: which issuers, keys, audiences and algorithms a service accepts.

Trust is per issuer (RFC 8725 §3.8: validate issuer and the key that belongs to it), so a
token claiming issuer A is only ever checked against A's JWKS. Algorithms are an explicit
allow-list of asymmetric JWS algorithms (RFC 8725 §3.1, §3.2); ``none`` and the HMAC family
cannot be configured at all, which closes the "HS256 keyed with a public key" confusion.

The configuration can be built in Python or from an OpenMetadata-like mapping
(:meth:`VerifierConfig.from_mapping`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

__all__ = [
    "AUTHBRIDGE_JWKS_PATH",
    "AUTHBRIDGE_REVOCATIONS_PATH",
    "SUPPORTED_ALGORITHMS",
    "IssuerTrust",
    "JwksPolicy",
    "RevocationPolicy",
    "TokenKind",
    "TokenTypeRule",
    "VerifierConfig",
]

#: Asymmetric JWS algorithms of RFC 7518 §3.1 and RFC 8037 §3.1 this package can verify.
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

#: Where authbridge (and OpenMetadata) publish their JWKS, relative to the issuer.
AUTHBRIDGE_JWKS_PATH = "/api/v1/system/config/jwks"
#: authbridge's revocation feed, relative to the issuer.
AUTHBRIDGE_REVOCATIONS_PATH = "/api/v1/system/revocations"

_ID_TOKEN_ONLY_CLAIMS = ("nonce", "at_hash", "c_hash")
_ACCESS_TOKEN_ONLY_CLAIMS = ("scope", "scp", "client_id", "cid")


class TokenKind(StrEnum):
    """What a presented token must be: an OAuth access token or an OIDC ID token."""

    ACCESS = "access"
    ID = "id"


@dataclass(frozen=True, slots=True)
class TokenTypeRule:
    """How to tell an access token from an ID token for one issuer.

    A token passes when all three hold:

    * ``header_types``: the JOSE ``typ`` (RFC 7515 §4.1.9, compared case-insensitively with
      an optional ``application/`` prefix) is one of these; ``""`` stands for "absent".
      ``None`` skips the header check.
    * ``required_any``: at least one of these claims is present (empty: no requirement).
    * ``forbidden``: none of these claims is present.

    Presets:

    * :meth:`rfc9068` — RFC 9068 §4: ``typ`` MUST be ``at+jwt``; authbridge's own tokens.
      ID-token-only claims are forbidden too, as defence in depth.
    * :meth:`id_token` — OIDC Core §2: ``typ`` absent or ``JWT`` (never ``at+jwt``) and no
      access-token-only claim (``scope``/``scp``/``client_id``/``cid``).
    * :meth:`idp_access` — for IdPs that stamp ``typ: JWT`` on both kinds (Okta, Entra):
      not ``at+jwt``-typed ID tokens, so the decision is by claims: an access token carries a
      scope or client claim (Okta ``cid``/``scp``, Entra ``scp``/``roles``, RFC 9068
      ``client_id``/``scope``) and none of the ID-token-only ``nonce``/``at_hash``/``c_hash``.
    """

    kind: TokenKind
    header_types: frozenset[str] | None
    required_any: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()

    @classmethod
    def rfc9068(cls) -> TokenTypeRule:
        """RFC 9068 §2.1 and §4: access tokens typed ``at+jwt``."""
        return cls(TokenKind.ACCESS, frozenset({"at+jwt"}), (), _ID_TOKEN_ONLY_CLAIMS)

    @classmethod
    def id_token(cls) -> TokenTypeRule:
        """OIDC Core §2 ID tokens: ``typ`` absent or ``JWT``, no access-token claims."""
        return cls(TokenKind.ID, frozenset({"", "jwt"}), (), _ACCESS_TOKEN_ONLY_CLAIMS)

    @classmethod
    def idp_access(cls) -> TokenTypeRule:
        """Claim-based access-token rule for IdPs that use ``typ: JWT`` for both kinds."""
        return cls(
            TokenKind.ACCESS,
            frozenset({"", "jwt", "at+jwt"}),
            ("scp", "scope", "cid", "client_id", "roles"),
            _ID_TOKEN_ONLY_CLAIMS,
        )

    @classmethod
    def parse(cls, value: str | TokenTypeRule) -> TokenTypeRule:
        """Name → preset: ``at+jwt``/``rfc9068``, ``access`` (claim-based), ``id``."""
        if isinstance(value, TokenTypeRule):
            return value
        presets = {
            "at+jwt": cls.rfc9068,
            "rfc9068": cls.rfc9068,
            "access": cls.idp_access,
            "id": cls.id_token,
        }
        try:
            return presets[value.strip().lower()]()
        except KeyError:
            raise ConfigError(
                f"unknown tokenType {value!r}; use one of {sorted(presets)}"
            ) from None


@dataclass(frozen=True, slots=True)
class JwksPolicy:
    """JWKS caching bounds (RFC 7517 §5 key sets; fetched over HTTPS, never from a token).

    * ``default_ttl``: freshness when the response has no ``Cache-Control: max-age``;
      a ``max-age`` is honoured but clamped into ``[min_ttl, max_ttl]`` so that an IdP can
      neither make us hammer it nor keep a removed key alive for days.
    * ``cooldown``: unknown ``kid`` values start at most one fetch per source per cooldown,
      however many arrive (an attacker can mint them for free), counted from the last fetch
      they started, so a key rotated just after start-up is fetched at once; refreshes and
      retries after a failure also wait a cooldown after any fetch.
    * ``stale_window``: after freshness ends and refreshes fail, already known keys keep
      verifying this long; afterwards validation fails closed.
    """

    default_ttl: float = 300.0
    min_ttl: float = 60.0
    max_ttl: float = 3600.0
    cooldown: float = 30.0
    stale_window: float = 3600.0
    timeout: float = 5.0
    max_bytes: int = 512 * 1024
    max_keys: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.min_ttl <= self.default_ttl <= self.max_ttl:
            raise ConfigError("need 0 < min_ttl <= default_ttl <= max_ttl")
        if self.cooldown < 0 or self.stale_window < 0 or self.timeout <= 0:
            raise ConfigError("cooldown and stale_window must be >= 0, timeout > 0")
        if self.max_bytes <= 0 or self.max_keys <= 0:
            raise ConfigError("max_bytes and max_keys must be positive")

    def ttl_for(self, max_age: float | None) -> float:
        """Freshness lifetime for a response carrying ``Cache-Control: max-age`` (or not)."""
        if max_age is None:
            return self.default_ttl
        return min(max(max_age, self.min_ttl), self.max_ttl)


def _tuple(value: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    out = tuple(value)
    if not all(isinstance(v, str) and v for v in out):
        raise ConfigError(f"{what} must be non-empty strings")
    return out


@dataclass(frozen=True, slots=True)
class IssuerTrust:
    """Everything a service trusts about one issuer.

    ``audiences``: RFC 7519 §4.1.3 and RFC 9068 §4 — one of the token's ``aud`` values MUST
    be ours; required, since a verifier without an audience accepts tokens minted for anyone.
    ``authorized_parties``: accepted ``azp`` values (OIDC Core §3.1.3.7 items 4-5); defaults
    to ``audiences``. A token with several audiences must name one of them in ``azp``.
    ``clock_tolerance``: seconds of leeway on ``exp``, ``nbf`` and ``iat`` (RFC 7519 §4.1.4).
    ``principal_domains``: OpenMetadata's ``principalDomain`` — the principal (first of
    ``principal_claims`` present) must be ``local@domain`` with ``domain`` in this list.
    """

    issuer: str
    jwks_urls: tuple[str, ...]
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...] = ("ES256", "RS256")
    clock_tolerance: int = 60
    token_type: TokenTypeRule = field(default_factory=TokenTypeRule.rfc9068)
    principal_domains: tuple[str, ...] = ()
    principal_claims: tuple[str, ...] = ("email", "preferred_username", "upn", "sub")
    required_scopes: tuple[str, ...] = ()
    required_roles: tuple[str, ...] = ()
    authorized_parties: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigError("issuer must be a non-empty string")
        set_(self, "jwks_urls", _tuple(self.jwks_urls, "jwks_urls"))
        set_(self, "audiences", _tuple(self.audiences, "audiences"))
        set_(self, "algorithms", _tuple(self.algorithms, "algorithms"))
        set_(self, "principal_domains", tuple(d.lower() for d in self.principal_domains))
        set_(self, "principal_claims", _tuple(self.principal_claims, "principal_claims"))
        set_(self, "required_scopes", tuple(self.required_scopes))
        set_(self, "required_roles", tuple(self.required_roles))
        if self.authorized_parties is not None:
            set_(self, "authorized_parties", tuple(self.authorized_parties))
        if not self.jwks_urls:
            raise ConfigError(f"issuer {self.issuer}: at least one JWKS URL is required")
        if not self.audiences:
            raise ConfigError(f"issuer {self.issuer}: at least one audience is required")
        if not self.algorithms:
            raise ConfigError(f"issuer {self.issuer}: at least one algorithm is required")
        bad = [a for a in self.algorithms if a not in SUPPORTED_ALGORITHMS]
        if bad:
            # RFC 8725 §3.1/§3.2: "none" and symmetric algorithms are never acceptable here.
            raise ConfigError(f"issuer {self.issuer}: unsupported algorithms {bad}")
        if isinstance(self.clock_tolerance, bool) or not 0 <= self.clock_tolerance <= 600:
            raise ConfigError("clock_tolerance must be an int between 0 and 600 seconds")

    @property
    def accepted_azp(self) -> tuple[str, ...]:
        """``azp`` values accepted (OIDC Core §3.1.3.7 item 5)."""
        if self.authorized_parties is None:
            return self.audiences
        return self.authorized_parties


def _check_url(url: str, allow_insecure_http: bool, what: str = "JWKS URL") -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        if allow_insecure_http:
            return
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            if parts.hostname == "localhost":
                return
    raise ConfigError(
        f"{what} {url!r} must be https (http only on loopback or with allow_insecure_http)"
    )


@dataclass(frozen=True, slots=True)
class RevocationPolicy:
    """Following an issuer's revocation feed (:mod:`.revocation`).

    * ``url``: the feed (authbridge: ``<issuer>/api/v1/system/revocations``).
    * ``issuer``: whose tokens it revokes; one of the trusted issuers.
    * ``bound``: seconds within which a revocation is refused (the feed is polled every
      ``bound / 2``); default 10.
    * ``fail_closed``: when the feed has not answered within ``bound``, refuse the issuer's
      tokens (True) or go on with the revocations already known, logging a warning
      (False, the default: an authbridge outage must not become every service's).
    """

    url: str
    issuer: str
    bound: float = 10.0
    fail_closed: bool = False
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.bound <= 3600.0:
            raise ConfigError("revocationBound must be between 1 and 3600 seconds")
        if not 0 < self.timeout <= self.bound:
            raise ConfigError("the revocation feed's timeout must be positive, at most the bound")


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    """The whole verifier: trusted issuers, JWKS policy and input bounds.

    ``max_token_bytes`` and ``max_header_bytes`` bound work done on unauthenticated input
    before any signature check (an unauthenticated party chooses them; a JOSE header of a few
    hundred bytes is normal, so 1 KiB of base64url is generous).
    """

    issuers: tuple[IssuerTrust, ...]
    jwks: JwksPolicy = field(default_factory=JwksPolicy)
    max_token_bytes: int = 16 * 1024
    max_header_bytes: int = 1024
    allow_insecure_http: bool = False
    revocations: RevocationPolicy | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuers", tuple(self.issuers))
        if not self.issuers:
            raise ConfigError("at least one issuer is required")
        names = [i.issuer for i in self.issuers]
        if len(set(names)) != len(names):
            raise ConfigError("issuers must be unique")
        for trust in self.issuers:
            for url in trust.jwks_urls:
                _check_url(url, self.allow_insecure_http)
        feed = self.revocations
        if feed is not None:
            _check_url(feed.url, self.allow_insecure_http, "revocationFeedUrl")
            if feed.issuer not in names:
                raise ConfigError(
                    f"revocationFeedUrl: issuer {feed.issuer!r} is not a trusted issuer "
                    f"(one of {names}); set revocationIssuer"
                )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> VerifierConfig:
        """Build from an OpenMetadata-like mapping.

        Short form (OpenMetadata's ``authentication`` + ``authorizer`` blocks)::

            publicKeys: ["https://auth.example.com/api/v1/system/config/jwks",
                         "https://example.okta.com/oauth2/default/v1/keys"]
            authority: "https://example.okta.com/oauth2/default"
            principalDomain: "example.com"
            audiences: ["api://default"]      # and/or clientId: "0oa..." (authority only)
            ownAudiences: ["https://auth.example.com"]  # authbridge's tokens' audience
            algorithms: ["RS256"]
            clockTolerance: 60
            tokenType: "access"                # for the authority: access | id | at+jwt

        OpenMetadata merges every ``publicKeys`` URL into one key pool; we do not, because a
        key must only vouch for its own issuer. A URL ending in ``/api/v1/system/config/jwks``
        is an authbridge (or OpenMetadata) JWKS whose issuer is the URL without that suffix,
        and whose tokens are RFC 9068 ``at+jwt`` access tokens signed ES256 or RS256, with
        authbridge's own audience: ``ownAudiences``, else ``audiences``, else that issuer
        URL (authbridge's ``tokens.audience`` defaults to it); ``clientId`` is the audience
        of ``authority``'s tokens only. Every other URL belongs to
        ``authority``. OpenMetadata's other ``authentication`` keys (``provider``,
        ``clientType``, ``callbackUrl``, ``oidcConfiguration``) are ignored here. For
        anything else use the explicit form,
        ``issuers: [{issuer, publicKeys, audiences, algorithms, tokenType, principalDomain,
        clockTolerance, requiredScopes, requiredRoles, authorizedParties}]``, which may be
        combined with the short form. ``jwks: {cooldown, defaultTtl, minTtl, maxTtl,
        staleWindow, timeout}`` tunes caching. ``revocationFeedUrl`` (authbridge:
        ``<issuer>/api/v1/system/revocations``) follows that issuer's revocation feed,
        ``revocationBound`` (seconds, default 10) and ``revocationFailClosed`` (default
        false) tune it, ``revocationIssuer`` names the issuer when the URL does not end
        in that path.
        """
        top = dict(data)
        issuers: list[IssuerTrust] = [
            _issuer_from_mapping(item, top) for item in top.get("issuers") or ()
        ]
        authority = top.get("authority")
        idp_urls: list[str] = []
        own: dict[str, list[str]] = {}
        for url in _tuple(top.get("publicKeys") or (), "publicKeys"):
            if url.rstrip("/").endswith(AUTHBRIDGE_JWKS_PATH):
                issuer = url.rstrip("/")[: -len(AUTHBRIDGE_JWKS_PATH)]
                if issuer == (authority or "").rstrip("/"):
                    idp_urls.append(url)
                else:
                    own.setdefault(issuer, []).append(url)
            else:
                idp_urls.append(url)
        for issuer, urls in own.items():
            # authbridge's own tokens carry authbridge's audience (`tokens.audience`, its
            # issuer URL by default), never the IdP's `clientId`: OpenMetadata's clientId is
            # the audience of the authority's tokens only.
            own_audiences = (
                list(_seq(top.get("ownAudiences"))) or list(_seq(top.get("audiences"))) or [issuer]
            )
            item = {
                "issuer": issuer,
                "publicKeys": urls,
                "tokenType": "at+jwt",
                "audiences": own_audiences,
                "clientId": None,
            }
            issuers.append(_issuer_from_mapping(item, top, default_algorithms=("ES256", "RS256")))
        if idp_urls:
            if not authority:
                raise ConfigError("publicKeys outside authbridge's JWKS path need 'authority'")
            item = {"issuer": authority, "publicKeys": idp_urls}
            issuers.append(_issuer_from_mapping(item, top, default_algorithms=("RS256",)))
        jwks = top.get("jwks") or {}
        tuning: dict[str, Any] = {
            attr: float(jwks[key])
            for key, attr in _POLICY_KEYS.items()
            if key in jwks and jwks[key] is not None
        }
        policy = JwksPolicy(**tuning)
        return cls(
            issuers=tuple(issuers),
            jwks=policy,
            allow_insecure_http=bool(top.get("allowInsecureHttp", False)),
            revocations=_revocations_from_mapping(top),
        )


_POLICY_KEYS = {
    "defaultTtl": "default_ttl",
    "minTtl": "min_ttl",
    "maxTtl": "max_ttl",
    "cooldown": "cooldown",
    "staleWindow": "stale_window",
    "timeout": "timeout",
}


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"{key} must be true or false")


def _revocations_from_mapping(top: Mapping[str, Any]) -> RevocationPolicy | None:
    url = top.get("revocationFeedUrl")
    if not url:
        return None
    if not isinstance(url, str):
        raise ConfigError("revocationFeedUrl must be a URL string")
    issuer = top.get("revocationIssuer")
    if issuer is None:
        if not url.rstrip("/").endswith(AUTHBRIDGE_REVOCATIONS_PATH):
            raise ConfigError(
                f"revocationFeedUrl does not end in {AUTHBRIDGE_REVOCATIONS_PATH}: "
                "set revocationIssuer to the issuer whose tokens it revokes"
            )
        issuer = url.rstrip("/")[: -len(AUTHBRIDGE_REVOCATIONS_PATH)]
    bound = top.get("revocationBound")
    try:
        return RevocationPolicy(
            url=url,
            issuer=str(issuer),
            bound=10.0 if bound is None else float(bound),
            fail_closed=_flag(top.get("revocationFailClosed"), "revocationFailClosed"),
            timeout=min(5.0, 10.0 if bound is None else float(bound)),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"revocationBound must be a number of seconds: {bound!r}") from None


def _seq(value: Any) -> Sequence[str]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _issuer_from_mapping(
    item: Mapping[str, Any],
    top: Mapping[str, Any],
    default_algorithms: tuple[str, ...] = ("ES256", "RS256"),
) -> IssuerTrust:
    def pick(key: str) -> Any:
        return item[key] if key in item else top.get(key)

    audiences = list(_seq(pick("audiences")))
    client_id = pick("clientId")
    if client_id and client_id not in audiences:
        audiences.append(client_id)
    token_type = item.get("tokenType", top.get("tokenType", "at+jwt"))
    azp = pick("authorizedParties")
    tolerance = pick("clockTolerance")
    return IssuerTrust(
        issuer=str(item.get("issuer", "")),
        jwks_urls=tuple(_seq(item.get("publicKeys"))),
        audiences=tuple(audiences),
        algorithms=tuple(_seq(pick("algorithms"))) or default_algorithms,
        clock_tolerance=60 if tolerance is None else int(tolerance),
        token_type=TokenTypeRule.parse(token_type),
        principal_domains=tuple(_seq(pick("principalDomain"))),
        required_scopes=tuple(_seq(pick("requiredScopes"))),
        required_roles=tuple(_seq(pick("requiredRoles"))),
        authorized_parties=None if azp is None else tuple(_seq(azp)),
    )
