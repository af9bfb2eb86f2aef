"""Credentials of the provisioning clients (RFC 7644 §2): HTTP Basic for Okta (RFC 7617),
a bearer token for Microsoft Entra ID (RFC 6750), each compared in constant time.

The credential comes from `scim.<source>.authCode` or from Astronomer's environment names,
`SCIM_AUTH_CODE_OKTA` (`username:password`) and `SCIM_AUTH_CODE_MICROSOFT` (the token),
or a `<NAME>_FILE` pointing at a mounted secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from authbridge.config.model import ScimSettings
from authbridge.directory.throttle import CredentialThrottle
from authbridge.scim.errors import ScimError, Unauthorized

__all__ = ["SOURCES", "Credential", "Guard", "TooManyFailures", "authenticate", "credential_for"]

Scheme = Literal["basic", "bearer"]
SOURCES: dict[str, Scheme] = {"okta": "basic", "microsoft": "bearer"}
ENV_NAMES = {"okta": "SCIM_AUTH_CODE_OKTA", "microsoft": "SCIM_AUTH_CODE_MICROSOFT"}


@dataclass(frozen=True)
class Credential:
    source: str
    scheme: Scheme
    secret: str | None  # None: provisioning from this source is not configured

    @property
    def configured(self) -> bool:
        return bool(self.secret)


def credential_for(
    source: str, settings: ScimSettings, environ: Mapping[str, str] | None = None
) -> Credential:
    environ = os.environ if environ is None else environ
    scheme = SOURCES[source]
    secret = getattr(settings, source).auth_code
    name = ENV_NAMES[source]
    if not secret and environ.get(name):
        secret = environ[name]
    if not secret and environ.get(f"{name}_FILE"):
        try:
            secret = Path(environ[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
        except OSError:
            secret = None
    return Credential(source, scheme, (secret or "").strip() or None)


def _same(given: str, expected: str) -> bool:
    # Digests first: hmac.compare_digest runs in time independent of where the inputs differ,
    # and equal-length digests keep it from revealing the expected length too.
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


class TooManyFailures(ScimError):
    """429 (RFC 6585 §4) with Retry-After: too many wrong credentials from this address."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Guard:
    """The credential-failure throttle and the caller's address (per source and address,
    and per address: a flood from elsewhere never blocks the IdP's own addresses)."""

    throttle: CredentialThrottle
    address: str


def authenticate(
    credential: Credential, authorization: str | None, guard: Guard | None = None
) -> str:
    """Check an Authorization header; returns the actor to audit, or raises Unauthorized
    (or TooManyFailures, before checking, once the guard's limits are reached)."""
    if guard is None:
        return _authenticate(credential, authorization)
    attempt = guard.throttle.check(credential.source, guard.address)
    if attempt.throttled and attempt.retry_after is not None:
        raise TooManyFailures(attempt.retry_after)
    try:
        actor = _authenticate(credential, authorization)
    except Unauthorized:
        guard.throttle.failed(credential.source, guard.address)
        raise
    guard.throttle.succeeded(credential.source, guard.address, attempt)
    return actor


def _authenticate(credential: Credential, authorization: str | None) -> str:
    if not credential.configured or credential.secret is None:
        raise Unauthorized(f"SCIM provisioning from {credential.source} is not configured")
    if not authorization:
        raise Unauthorized("credentials are required")
    kind, _, value = authorization.strip().partition(" ")
    kind = kind.lower()
    value = value.strip()
    if credential.scheme == "basic":
        if kind != "basic":
            raise Unauthorized("this endpoint takes HTTP Basic credentials")
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are malformed") from None
        ok = _same(decoded, credential.secret)
        actor = decoded.partition(":")[0]
    else:
        if kind != "bearer":
            raise Unauthorized("this endpoint takes a Bearer token")
        ok = _same(value, credential.secret)
        actor = "token:" + hashlib.sha256(value.encode()).hexdigest()[:12]
    if not ok:
        raise Unauthorized("the credentials are not valid")
    return f"{credential.source}:{actor}"
