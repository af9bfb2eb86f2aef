"""Device authorization grant (RFC 8628): user codes people can type, and the verification
step (§3.3) where a signed-in person approves or denies the device that showed the code.

The web page only renders what `DeviceVerification` decides: which request a code stands
for, whether the person has guessed too often, and the decision itself.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from authbridge.storage.counters import RateCounter
from authbridge.storage.provider_store import DeviceRow

__all__ = [
    "DEVICE_GUESSES",
    "DEVICE_WINDOW",
    "USER_CODE_ALPHABET",
    "DeviceRequest",
    "DeviceVerification",
    "new_user_code",
    "normalize_user_code",
]

# RFC 8628 §6.1: base-20 consonants, no vowels (no words), no look-alikes; 8 characters
# give 20^8 ≈ 2^34.6 codes, enough with a 10-minute lifetime and throttled attempts.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
# RFC 8628 §5.1: "the authorization server SHOULD rate-limit" user-code attempts; counted
# per person, since only signed-in people reach the verification step.
DEVICE_GUESSES = 10
DEVICE_WINDOW = timedelta(minutes=15)
MAX_TYPED = 32  # longer input is no code; never hash or echo more than this


def new_user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(typed: str) -> str | None:
    """Accept what people type: any case, with or without the dash or spaces (§6.1)."""
    cleaned = "".join(c for c in typed[:MAX_TYPED].upper() if c.isalnum())
    if len(cleaned) != 8 or any(c not in USER_CODE_ALPHABET for c in cleaned):
        return None
    return f"{cleaned[:4]}-{cleaned[4:]}"


class DeviceCodes(Protocol):
    """The pending device requests (the provider's store)."""

    def device_by_user_code(self, user_code: str) -> DeviceRow | None: ...

    def decide_device(
        self,
        user_code: str,
        *,
        approve: bool,
        user_id: str,
        auth_time: int,
        now: datetime,
        amr: str | None = None,
        acr: str | None = None,
    ) -> bool: ...


@dataclass(frozen=True)
class DeviceRequest:
    """What the person is asked to approve (RFC 8628 §3.3: identify the device's client)."""

    user_code: str
    client_name: str
    scope: str


class DeviceVerification:
    """The verification step of RFC 8628 §3.3, behind a per-person guess limit (§5.1)."""

    def __init__(
        self,
        codes: DeviceCodes,
        counters: RateCounter,
        client_name: Callable[[str], str],
        clock: Callable[[], datetime],
    ) -> None:
        self._codes = codes
        self._counters = counters
        self._client_name = client_name
        self._clock = clock

    def throttled(self, user_id: str) -> bool:
        """Whether this person has typed too many wrong codes in the window."""
        count = self._counters.count(_guess_key(user_id), now=self._clock(), window=DEVICE_WINDOW)
        return count >= DEVICE_GUESSES

    def lookup(self, user_id: str, typed: str) -> DeviceRequest | None:
        """The pending request a typed code stands for; a wrong code counts as a guess."""
        code = normalize_user_code(typed)
        row = self._codes.device_by_user_code(code) if code else None
        if row is None or row.status != "pending" or row.expires_at <= self._clock():
            self._wrong_guess(user_id)
            return None
        return DeviceRequest(row.user_code, self._client_name(row.client_id), row.scope)

    def decide(
        self,
        user_id: str,
        typed: str,
        *,
        approve: bool,
        auth_time: int,
        amr: Sequence[str] = (),
        acr: str | None = None,
    ) -> bool:
        """Approve or deny the request of `typed` once; False (a guess) if none is pending.
        `amr`/`acr`: how the approving person signed in, for the tokens the device gets."""
        code = normalize_user_code(typed)
        decided = code is not None and self._codes.decide_device(
            code,
            approve=approve,
            user_id=user_id,
            auth_time=auth_time,
            now=self._clock(),
            amr=" ".join(amr) or None,
            acr=acr,
        )
        if not decided:
            self._wrong_guess(user_id)
        return decided

    def _wrong_guess(self, user_id: str) -> None:
        self._counters.hit(_guess_key(user_id), now=self._clock(), window=DEVICE_WINDOW)


def _guess_key(user_id: str) -> str:
    return "device:" + hashlib.sha256(user_id.encode()).hexdigest()[:40]
