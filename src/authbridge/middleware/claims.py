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
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from .config import IssuerTrust, TokenKind
from .errors import InsufficientScope, InvalidToken, Reason
from .jws import JoseHeader

__all__ = ["ClaimChecker", "VerifiedToken", "check_claims", "compile_checker", "require"]

_EMPTY: frozenset[str] = frozenset()
_SCOPE_SETS = 256


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
    if type(value) is list:
        for item in value:  # a loop, not all(<generator>): this runs on every request
            if type(item) is not str:
                raise InvalidToken(Reason.INVALID_CLAIM, name)
        return tuple(value)
    raise InvalidToken(Reason.INVALID_CLAIM, name)


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


ClaimChecker = Callable[[JoseHeader, dict[str, Any], float], VerifiedToken]


def compile_checker(trust: IssuerTrust) -> ClaimChecker:
    """RFC 7519 §7.2 step 10 onwards for one issuer, as a closure over its settings.

    The issuer's audiences, token-type rule, tolerance, domains and required scopes are
    bound once (as frozensets where membership is tested), so the per-token work is the
    checks themselves. Order of checks, and so the reason given when several fail: token
    type (RFC 9068 §4 / OIDC Core §2), ``iss``, ``sub``, ``exp``, ``iat``, ``nbf``, ``aud``
    and ``azp``, principal domain, ``scope``/``scp`` and ``roles`` types, required scopes
    and roles.
    """
    issuer = trust.issuer
    rule = trust.token_type
    kind = rule.kind
    header_types = rule.header_types
    required_any = frozenset(rule.required_any)
    forbidden = tuple(dict.fromkeys(rule.forbidden))
    leeway = trust.clock_tolerance
    audiences = frozenset(trust.audiences)
    accepted_azp = frozenset(trust.accepted_azp)
    principal_claims = trust.principal_claims
    domains = frozenset(trust.principal_domains)
    # "@domain" endings, for the common case of a lower-case principal in an allowed domain:
    # a match means its last "@" is that one, so rpartition would find the same domain. A
    # domain holding "@" could never match that way, so it has no ending here.
    domain_endings = tuple(f"@{d}" for d in domains if "@" not in d)
    required_scopes = trust.required_scopes
    required_roles = trust.required_roles
    # Sets, so the per-token test allocates nothing (``issuperset`` of a tuple builds one).
    required_scope_set = frozenset(required_scopes)
    required_role_set = frozenset(required_roles)
    needs = bool(required_scopes or required_roles)
    new = tuple.__new__  # NamedTuple's own __new__ is one more Python frame per token
    proxy = MappingProxyType
    # ``scope`` string → its set of scopes: a pure function, memoized per issuer, bounded.
    scope_sets: dict[str, frozenset[str]] = {}
    # ``roles`` list (as a tuple) → its set of roles: likewise.
    role_sets: dict[tuple[Any, ...], frozenset[str]] = {}

    def check(header: JoseHeader, claims: dict[str, Any], now: float) -> VerifiedToken:
        # Required claims by dict subscript (a missing one is the rare KeyError) and the
        # forbidden names by ``in``: cheaper per token than ``claims.get`` calls or a keys
        # view (about 0.6 k instructions). A JSON null counts as absent where it did before.
        if header_types is not None and header.typ not in header_types:
            raise InvalidToken(Reason.WRONG_TOKEN_TYPE)
        if required_any and claims.keys().isdisjoint(required_any):
            raise InvalidToken(Reason.WRONG_TOKEN_TYPE)
        for name in forbidden:  # a few `in` probes: cheaper than a keys view
            if name in claims:
                raise InvalidToken(Reason.WRONG_TOKEN_TYPE)
        try:
            if claims["iss"] != issuer:
                raise InvalidToken(Reason.UNKNOWN_ISSUER)
        except KeyError:
            raise InvalidToken(Reason.UNKNOWN_ISSUER) from None
        try:
            subject = claims["sub"]
        except KeyError:
            subject = None
        if type(subject) is not str or not subject:
            raise InvalidToken(Reason.MISSING_CLAIM, "sub")

        # RFC 7519 §4.1.4-§4.1.6 with tolerance L (see the module docstring).
        try:
            exp = claims["exp"]
        except KeyError:
            exp = None
        if type(exp) is not int:  # bool is a subclass of int, hence `type is`
            exp = _number(claims, "exp")
        if (now > exp + leeway) if leeway else (now >= exp):
            raise InvalidToken(Reason.EXPIRED)
        latest = now + leeway
        try:
            iat = claims["iat"]
        except KeyError:
            iat = None
        if type(iat) is not int:
            iat = _number(claims, "iat")
        if latest < iat:
            raise InvalidToken(Reason.ISSUED_IN_FUTURE)
        if "nbf" in claims:
            nbf = claims["nbf"]
            if nbf is not None:
                if type(nbf) is not int:
                    nbf = _number(claims, "nbf")
                if latest < nbf:
                    raise InvalidToken(Reason.NOT_YET_VALID)

        try:
            aud = claims["aud"]
        except KeyError:
            raise InvalidToken(Reason.MISSING_CLAIM, "aud") from None
        if type(aud) is str:
            auds: tuple[str, ...] = (aud,)
        else:
            auds = _strings(aud, "aud")
        # RFC 7519 §4.1.3: the recipient MUST identify itself with a value in "aud".
        if audiences.isdisjoint(auds):
            raise InvalidToken(Reason.WRONG_AUDIENCE)
        azp = claims.get("azp")
        if azp is None:
            if len(auds) > 1:
                # OIDC Core §3.1.3.7 item 4: several audiences need an azp naming the party
                # the token was issued to; without it any co-audience could replay it here.
                raise InvalidToken(Reason.WRONG_AZP)
        elif type(azp) is not str or azp not in accepted_azp:
            raise InvalidToken(Reason.WRONG_AZP)

        principal: str | None = None
        for name in principal_claims:
            if name in claims:
                value = claims[name]
                if type(value) is str and value:
                    principal = value
                    break
        if domains:
            if principal is None or not principal.endswith(domain_endings):
                _, at, domain = (principal or "").rpartition("@")
                if not at or domain.lower() not in domains:
                    raise InvalidToken(Reason.PRINCIPAL_DOMAIN)
            if "email_verified" in claims and claims["email_verified"] is False:
                # A domain check on an unverified email lets anyone claim anyone's address.
                raise InvalidToken(Reason.EMAIL_UNVERIFIED)

        scope = claims.get("scope")
        if type(scope) is str and "scp" not in claims:
            # Most tokens of an issuer carry one of a handful of scope strings.
            scopes = scope_sets.get(scope)
            if scopes is None:
                scopes = frozenset(scope.split())
                if len(scope_sets) < _SCOPE_SETS:
                    scope_sets[scope] = scopes
        else:
            scopes = _scopes(claims)
        held_roles = claims.get("roles")
        if held_roles is None:
            roles = _EMPTY
        elif type(held_roles) is list:
            # Like the scope strings: a handful of role lists per issuer (about 0.7 k
            # instructions saved per token). Only lists of strings are remembered, and no
            # string equals a non-string, so a hit needs no type check.
            held = tuple(held_roles)
            try:
                found = role_sets.get(held)
            except TypeError:  # an unhashable member: not a list of strings, refused below
                found = None
            if found is None:
                for role in held_roles:
                    if type(role) is not str:
                        raise InvalidToken(Reason.INVALID_CLAIM, "roles")
                found = frozenset(held)
                if len(role_sets) < _SCOPE_SETS:
                    role_sets[held] = found
            roles = found
        else:
            roles = frozenset(_strings(held_roles, "roles"))
        token: VerifiedToken = new(
            VerifiedToken,
            (
                issuer,
                subject,
                auds,
                kind,
                exp,
                scopes,
                roles,
                principal,
                proxy(claims),
                header.params,
            ),
        )
        if needs and not (required_scope_set <= scopes and required_role_set <= roles):
            require(token, required_scopes, required_roles)
        return token

    return check


def check_claims(
    trust: IssuerTrust, header: JoseHeader, claims: dict[str, Any], now: float
) -> VerifiedToken:
    """RFC 7519 §7.2 step 10 onwards, for a claims set whose signature already verified.

    One-off form of :func:`compile_checker` (the verifier compiles once per issuer).
    """
    return compile_checker(trust)(header, claims, now)
