"""Claim checks after the signature verified: RFC 7519 §4.1 and §7.2, RFC 9068 §4,
OIDC Core §3.1.3.7, and OpenMetadata's ``principalDomain``.

Time claims use the issuer's clock tolerance ``L``, to the second:

* ``exp`` (RFC 7519 §4.1.4, "MUST be before"): refused when ``now >= exp`` with no tolerance;
  with ``L > 0`` the edge ``now == exp + L`` is inside the tolerance, one second later is not.
* ``nbf`` (§4.1.5, "MUST be after or equal to"): accepted while ``now + L >= nbf``.
* ``iat`` (§4.1.6): a token issued more than ``L`` seconds in the future is refused
  (RFC 9068 §4 leaves iat judgement to the resource server; a future iat means a broken or
  hostile clock at the issuer).

``exp``, ``iat``, ``sub`` and ``aud`` are required: RFC 9068 §2.2 and OIDC Core §2 both make
them REQUIRED, so a token lacking one is not a token this package can reason about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from .config import IssuerTrust, TokenKind
from .errors import InsufficientScope, InvalidToken, Reason
from .jws import JoseHeader

__all__ = ["VerifiedToken", "check_claims", "require"]

_EMPTY: frozenset[str] = frozenset()


class VerifiedToken(NamedTuple):
    """A token that passed every check. ``claims``/``header`` are read-only views.

    A ``NamedTuple`` rather than a frozen dataclass: immutable all the same, and built on
    every request, where a frozen dataclass's ``__init__`` costs a measurable microsecond.
    """

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    kind: TokenKind
    expires_at: float | int
    scopes: frozenset[str]
    roles: frozenset[str]
    principal: str | None
    claims: Mapping[str, Any]
    header: Mapping[str, Any]

    @property
    def email(self) -> str | None:
        value = self.claims.get("email")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        value = self.claims.get("name")
        return value if isinstance(value, str) else None


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if type(value) is int:  # the common case first; bool is a subclass, hence `type is`
        return value
    if value is None:
        raise InvalidToken(Reason.MISSING_CLAIM, name)
    # RFC 7519 §2 NumericDate: a JSON number; booleans and non-finite values are not dates.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(Reason.INVALID_CLAIM, name)
    return value


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if type(value) is str:
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidToken(Reason.INVALID_CLAIM, name)


def _token_kind(trust: IssuerTrust, header: JoseHeader, claims: Mapping[str, Any]) -> None:
    rule = trust.token_type
    if rule.header_types is not None and header.typ not in rule.header_types:
        raise InvalidToken(Reason.WRONG_TOKEN_TYPE)
    if rule.required_any and not any(c in claims for c in rule.required_any):
        raise InvalidToken(Reason.WRONG_TOKEN_TYPE)
    for name in rule.forbidden:
        if name in claims:
            raise InvalidToken(Reason.WRONG_TOKEN_TYPE)


def _times(trust: IssuerTrust, claims: Mapping[str, Any], now: float) -> float:
    leeway = trust.clock_tolerance
    exp = _number(claims, "exp")
    if (now > exp + leeway) if leeway else (now >= exp):
        raise InvalidToken(Reason.EXPIRED)
    if now + leeway < _number(claims, "iat"):
        raise InvalidToken(Reason.ISSUED_IN_FUTURE)
    if "nbf" in claims and now + leeway < _number(claims, "nbf"):
        raise InvalidToken(Reason.NOT_YET_VALID)
    return exp


def _audience(trust: IssuerTrust, claims: Mapping[str, Any]) -> tuple[str, ...]:
    if "aud" not in claims:
        raise InvalidToken(Reason.MISSING_CLAIM, "aud")
    audiences = _strings(claims["aud"], "aud")
    # RFC 7519 §4.1.3: the recipient MUST identify itself with a value in "aud".
    if not any(a in trust.audiences for a in audiences):
        raise InvalidToken(Reason.WRONG_AUDIENCE)
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        # OIDC Core §3.1.3.7 item 4: several audiences need an azp naming the party the
        # token was issued to; without it any co-audience could replay the token here.
        raise InvalidToken(Reason.WRONG_AZP)
    if azp is not None and (not isinstance(azp, str) or azp not in trust.accepted_azp):
        raise InvalidToken(Reason.WRONG_AZP)
    return audiences


def _principal(trust: IssuerTrust, claims: Mapping[str, Any]) -> str | None:
    principal: str | None = None
    for name in trust.principal_claims:
        value = claims.get(name)
        if isinstance(value, str) and value:
            principal = value
            break
    if trust.principal_domains:
        _, at, domain = (principal or "").rpartition("@")
        if not at or domain.lower() not in trust.principal_domains:
            raise InvalidToken(Reason.PRINCIPAL_DOMAIN)
        if claims.get("email_verified") is False:
            # A domain check on an unverified email lets anyone claim anyone's address.
            raise InvalidToken(Reason.EMAIL_UNVERIFIED)
    return principal


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    # RFC 9068 §2.2.3 / RFC 8693 §4.2: "scope" is space-delimited; Okta and Entra use "scp"
    # as a list or a space-delimited string.
    scope = claims.get("scope")
    scp = claims.get("scp")
    if scp is None:
        if scope is None:
            return frozenset()
        if isinstance(scope, str):
            return frozenset(scope.split())
    found: list[str] = []
    for name, value in (("scope", scope), ("scp", scp)):
        if isinstance(value, str):
            found.extend(value.split())
        elif value is not None:
            found.extend(_strings(value, name))
    return frozenset(found)


def require(
    token: VerifiedToken, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()
) -> None:
    """RFC 6750 §3.1 ``insufficient_scope``: every listed scope and role must be held."""
    missing_scopes = [s for s in scopes if s not in token.scopes]
    missing_roles = [r for r in roles if r not in token.roles]
    if missing_scopes or missing_roles:
        raise InsufficientScope(scopes, "scope" if missing_scopes else "role")


def check_claims(
    trust: IssuerTrust, header: JoseHeader, claims: dict[str, Any], now: float
) -> VerifiedToken:
    """RFC 7519 §7.2 step 10 onwards, for a claims set whose signature already verified."""
    _token_kind(trust, header, claims)
    if claims.get("iss") != trust.issuer:
        raise InvalidToken(Reason.UNKNOWN_ISSUER)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken(Reason.MISSING_CLAIM, "sub")
    exp = _times(trust, claims, now)
    audiences = _audience(trust, claims)
    principal = _principal(trust, claims)
    roles = claims.get("roles")
    token = VerifiedToken(
        trust.issuer,
        subject,
        audiences,
        trust.token_type.kind,
        exp,
        _scopes(claims),
        _EMPTY if roles is None else frozenset(_strings(roles, "roles")),
        principal,
        MappingProxyType(claims),
        header.params,
    )
    if trust.required_scopes or trust.required_roles:
        require(token, trust.required_scopes, trust.required_roles)
    return token
