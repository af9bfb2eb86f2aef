"""How the person behind a token signed in, checked per route (RFC 9470, OAuth 2.0 Step Up
Authentication Challenge Protocol).

A token's `acr`, `amr` and `auth_time` claims (OIDC Core §2; authbridge puts them in its
access tokens, RFC 9068 §2.2.1) are compared with what the route requires; a shortfall is
401 with ``error="insufficient_user_authentication"`` and the ``acr_values`` and/or
``max_age`` the client should send to the authorization server to get a token that meets
it (RFC 9470 §3, §4). A token that lacks a claim the route needs is treated as not meeting
it (the same challenge), never as meeting it.
"""

from __future__ import annotations

import time
from typing import Any

from .authn import ACR_MFA, acr_satisfies, clean_amr, is_multi_factor
from .claims import VerifiedToken
from .errors import ConfigError, InsufficientUserAuthentication, Reason

__all__ = ["check_authentication", "check_requirement"]


def check_requirement(requirement: Any) -> None:
    """Refuse at start-up a requirement that could never be met or challenged."""
    values = (*requirement.acr, *requirement.amr)
    if any(not v or v.split() != [v] for v in values):
        raise ConfigError("acr and amr values are single tokens without spaces")
    if requirement.max_age is not None and requirement.max_age < 0:
        raise ConfigError("max_age is a number of seconds (0 or more)")
    if requirement.role is not None or requirement.permission is not None:
        raise ConfigError("a requirement checks roles or authentication, not both: nest them")


def _challenge_acr(acr: tuple[str, ...], amr: tuple[str, ...]) -> tuple[str, ...]:
    """The acr_values to send back: the route's own, or authbridge's MFA level when the
    required methods are multi-factor (RFC 9470 defines no amr parameter)."""
    if acr:
        return acr
    if "mfa" in amr or is_multi_factor(amr):
        return (ACR_MFA,)
    return ()


def check_authentication(
    token: VerifiedToken,
    acr: tuple[str, ...],
    amr: tuple[str, ...],
    max_age: int | None,
    *,
    now: float | None = None,
) -> None:
    """Allow, or raise InsufficientUserAuthentication (RFC 9470 §3)."""
    claims = token.claims
    challenge = _challenge_acr(acr, amr)
    token_acr = claims.get("acr")
    if acr and not acr_satisfies(token_acr if isinstance(token_acr, str) else None, acr):
        raise InsufficientUserAuthentication(acr_values=challenge, max_age=max_age)
    methods = set(clean_amr(claims.get("amr")))
    missing = set(amr) - methods
    if missing == {"mfa"} and is_multi_factor(methods):
        missing = set()
    if missing:
        raise InsufficientUserAuthentication(acr_values=challenge, max_age=max_age)
    if max_age is not None:
        auth_time = claims.get("auth_time")
        current = time.time() if now is None else now
        if (
            isinstance(auth_time, bool)
            or not isinstance(auth_time, (int, float))
            or current - auth_time > max_age
        ):
            raise InsufficientUserAuthentication(
                Reason.AUTHENTICATION_TOO_OLD, acr_values=challenge, max_age=max_age
            )
