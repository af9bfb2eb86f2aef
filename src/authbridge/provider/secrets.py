"""Opaque credentials: random values handed out once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["digest", "new_value", "same_digest"]


def new_value() -> str:
    """256 random bits, base64url: codes, refresh tokens, device codes, client secrets."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def same_digest(value: str, stored: str | None) -> bool:
    """Compare in constant time; a missing stored digest never matches."""
    return stored is not None and hmac.compare_digest(digest(value), stored)
