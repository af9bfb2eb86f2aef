"""Credentials of the provisioning clients (RFC 7644 §2): HTTP Basic for Okta (RFC 7617),
a bearer token for Microsoft Entra ID (RFC 6750), each compared in constant time.

A source may hold several credentials at once (a rotation: the new one is added, the IdP
switches, the old one is retired); a request is accepted when it matches any active one.
Every active credential is compared, whichever matches (no early exit), as SHA-256 digests
of equal length, so timing tells neither which credential matched nor how close a guess
came (`check`).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from authbridge.config.model import ScimSettings
from authbridge.directory.throttle import CredentialThrottle
from authbridge.scim.errors import ScimError, Unauthorized

__all__ = [
    "SOURCES",
    "ActiveCredential",
    "Credential",
    "Guard",
    "TooManyFailures",
    "authenticate",
    "authenticate_any",
    "check",
    "credential_for",
    "digest_of",
]

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


def digest_of(secret: str) -> bytes:
    """What is compared and stored: the SHA-256 of the secret (Basic: `username:password`)."""
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class ActiveCredential:
    """One credential a source accepts: `id` (`env` for the environment's), its digest, and
    the username to audit for Basic ones."""

    source: str
    id: str
    scheme: Scheme
    digest: bytes
    username: str | None = None


def check(presented: str, candidates: Sequence[ActiveCredential]) -> ActiveCredential | None:
    """The credential `presented` matches, or None. Every candidate is compared, the loop
    never stops at a match, and each comparison is `hmac.compare_digest` over two 32-byte
    digests: its time is independent of the content, the length and which candidate
    matched."""
    given = digest_of(presented)
    matched: ActiveCredential | None = None
    for candidate in candidates:
        same = hmac.compare_digest(given, candidate.digest)
        # Both branches assign: no data-dependent exit from the loop.
        matched = candidate if same else matched
    return matched


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
    """Check an Authorization header against one configured credential (the environment's);
    returns the actor to audit, or raises Unauthorized (or TooManyFailures)."""
    candidates = []
    if credential.secret:
        candidates.append(
            ActiveCredential(
                credential.source,
                "env",
                credential.scheme,
                digest_of(credential.secret),
                credential.secret.partition(":")[0] if credential.scheme == "basic" else None,
            )
        )
    return actor_of(authenticate_any(credential.source, candidates, authorization, guard))


def actor_of(credential: ActiveCredential) -> str:
    """Who SCIM's audit trail names: the Basic username, or the bearer credential's id."""
    if credential.scheme == "basic":
        return f"{credential.source}:{credential.username}"
    return f"{credential.source}:token:{credential.id}"


def authenticate_any(
    source: str,
    candidates: Sequence[ActiveCredential],
    authorization: str | None,
    guard: Guard | None = None,
) -> ActiveCredential:
    """Check an Authorization header against every active credential of `source`; returns
    the one that matched, or raises Unauthorized (or TooManyFailures, before checking, once
    the guard's limits are reached: wrong credentials are counted per source and address)."""
    if guard is None:
        return _authenticate(source, candidates, authorization)
    attempt = guard.throttle.check(source, guard.address)
    if attempt.throttled and attempt.retry_after is not None:
        raise TooManyFailures(attempt.retry_after)
    try:
        matched = _authenticate(source, candidates, authorization)
    except Unauthorized:
        guard.throttle.failed(source, guard.address)
        raise
    guard.throttle.succeeded(source, guard.address, attempt)
    return matched


def _authenticate(
    source: str, candidates: Sequence[ActiveCredential], authorization: str | None
) -> ActiveCredential:
    if not candidates:
        raise Unauthorized(f"SCIM provisioning from {source} is not configured")
    if not authorization:
        raise Unauthorized("credentials are required")
    kind, _, value = authorization.strip().partition(" ")
    kind = kind.lower()
    value = value.strip()
    if SOURCES[source] == "basic":
        if kind != "basic":
            raise Unauthorized("this endpoint takes HTTP Basic credentials")
        try:
            presented = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are malformed") from None
    else:
        if kind != "bearer":
            raise Unauthorized("this endpoint takes a Bearer token")
        presented = value
    matched = check(presented, candidates)
    if matched is None:
        raise Unauthorized("the credentials are not valid")
    return matched
