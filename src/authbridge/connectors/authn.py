"""How an upstream IdP says the person signed in, and the proof `requireMfa` demands.

The request side (OIDC Core §3.1.2.1): `acr_values` and `max_age` from the connector's
`acrValues` and `maxAge`. The answer side: only the *ID token's* claims count (OIDC Core §2
defines `acr`, `amr` and `auth_time` there; userinfo is not an authentication statement):

* `requireMfa`: the ID token's `acr` is one of `acrValues`, or its `amr` proves two factors
  (`middleware/authn.py`: RFC 8176 `mfa`, or methods of two kinds). Anything else, an
  absent claim included, refuses the sign-in (`MfaNotConfirmed`).
* `maxAge`: the ID token must carry `auth_time` (OIDC Core §3.1.2.1: REQUIRED when max_age
  was sent) no older than `maxAge` (+ clock tolerance), §3.1.3.7 step 13.

What the session records (`amr`): the ID token's registered RFC 8176 values, plus `mfa`
when the second factor was proven through `acr`, so the platform's own tokens say so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from authbridge.config.model import OidcProviderSettings
from authbridge.connectors.errors import LoginFailed
from authbridge.middleware.authn import clean_amr, is_multi_factor, recorded_amr

__all__ = ["MfaNotConfirmed", "authentication_params", "upstream_amr"]


class MfaNotConfirmed(LoginFailed):
    """The IdP's ID token does not prove the second factor `requireMfa` demands."""

    status = 403

    def __init__(self, connector_id: str, acr: object, amr: object) -> None:
        super().__init__(
            "Your identity provider did not confirm a second factor (multi-factor "
            "authentication), which this service requires. Sign in again and complete the "
            "second step your identity provider asks for; if it never asks, tell your "
            "administrator that multi-factor sign-in is not set up for you.",
            f"auth.openidConnect.{connector_id}.requireMfa: the ID token's acr {acr!r} is not "
            f"in acrValues and its amr {amr!r} shows no second factor (docs/mfa.md).",
            code="mfa_not_confirmed",
        )


def authentication_params(settings: OidcProviderSettings) -> dict[str, str]:
    """The authorization request's `acr_values` and `max_age` (OIDC Core §3.1.2.1)."""
    params: dict[str, str] = {}
    if settings.acr_values:
        params["acr_values"] = " ".join(settings.acr_values)
    if settings.max_age is not None:
        params["max_age"] = str(settings.max_age)
    return params


def upstream_amr(
    connector_id: str,
    settings: OidcProviderSettings,
    id_claims: Mapping[str, Any] | None,
    *,
    clock_tolerance: int = 0,
    now: float | None = None,
) -> tuple[str, ...]:
    """The methods to record for this sign-in, after the checks `requireMfa` and `maxAge`
    demand; `id_claims` is None when the IdP answered without an ID token."""
    claims: Mapping[str, Any] = id_claims or {}
    if settings.max_age is not None:
        auth_time = claims.get("auth_time")
        current = time.time() if now is None else now
        if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
            raise LoginFailed(
                "Your identity provider did not say when you signed in.",
                f"auth.openidConnect.{connector_id}.maxAge is set, and the ID token has no "
                "auth_time (OIDC Core §3.1.2.1 makes it REQUIRED then).",
                code="no_auth_time",
            )
        if current - auth_time > settings.max_age + clock_tolerance:
            raise LoginFailed(
                "Your identity provider reused an earlier sign-in; this service needs a "
                "recent one. Sign out of your identity provider and try again.",
                f"auth.openidConnect.{connector_id}.maxAge {settings.max_age}s: the ID "
                f"token's auth_time is {int(current - auth_time)}s old.",
                code="stale_authentication",
            )
    raw_amr = claims.get("amr")
    acr = claims.get("acr")
    methods = clean_amr(raw_amr)
    # An acr among acrValues proves MFA only when the operator says so with requireMfa:
    # acrValues may well name a one-factor level (Okta's urn:okta:loa:1fa:any).
    proven = is_multi_factor(methods) or (
        settings.require_mfa and isinstance(acr, str) and acr in settings.acr_values
    )
    if settings.require_mfa and not proven:
        raise MfaNotConfirmed(connector_id, acr, raw_amr)
    recorded = recorded_amr(list(methods), registered_only=True)
    if proven and "mfa" not in recorded:
        recorded = (*recorded, "mfa")  # proven through acr: the methods alone do not say so
    return recorded
