"""Device authorization grant helpers (RFC 8628): user codes people can type."""

from __future__ import annotations

import secrets

__all__ = ["USER_CODE_ALPHABET", "new_user_code", "normalize_user_code"]

# RFC 8628 §6.1: base-20 consonants, no vowels (no words), no look-alikes; 8 characters
# give 20^8 ≈ 2^34.6 codes, enough with a 10-minute lifetime and throttled attempts.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


def new_user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(typed: str) -> str | None:
    """Accept what people type: any case, with or without the dash or spaces (§6.1)."""
    cleaned = "".join(c for c in typed.upper() if c.isalnum())
    if len(cleaned) != 8 or any(c not in USER_CODE_ALPHABET for c in cleaned):
        return None
    return f"{cleaned[:4]}-{cleaned[4:]}"
