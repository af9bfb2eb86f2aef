"""Throttling of failed password sign-ins (OWASP Authentication Cheat Sheet, "Login Throttling").

Three fixed-window limits count failures: per (account, client address), per client address,
and per account. None locks anyone out for good: every limit lapses with its window, and a
browser that has signed in to the account before carries a device cookie that exempts it
from the per-account and per-address limits (OWASP "device cookies"), so an attacker who
floods an account from elsewhere cannot keep its owner out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from authbridge.config.model import RateLimitSettings
from authbridge.storage.models import utcnow
from authbridge.storage.ratelimits import RateLimitStore

__all__ = ["SignInThrottle", "Throttled"]


@dataclass(frozen=True)
class Throttled:
    retry_after: int


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class SignInThrottle:
    def __init__(
        self,
        store: RateLimitStore,
        limits: RateLimitSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._limits = limits
        self._window = timedelta(seconds=limits.window)
        self._clock = clock

    def _keys(self, account: str, address: str, trusted_device: bool) -> list[tuple[str, int]]:
        account = account.casefold()
        keys = [(_key("pair", account, address), self._limits.per_account_and_address)]
        if not trusted_device:
            keys.append((_key("addr", address), self._limits.per_address))
            keys.append((_key("acct", account), self._limits.per_account))
        return keys

    def check(
        self, account: str, address: str, *, trusted_device: bool = False
    ) -> Throttled | None:
        """Whether a sign-in attempt may go ahead; checked before the password is verified."""
        now = self._clock()
        for key, limit in self._keys(account, address, trusted_device):
            if self._store.count(key, now=now, window=self._window) >= limit:
                return Throttled(retry_after=self._limits.window)
        return None

    def failed(self, account: str, address: str) -> None:
        now = self._clock()
        for key, _limit in self._keys(account, address, trusted_device=False):
            self._store.hit(key, now=now, window=self._window)

    def succeeded(self, account: str, address: str) -> None:
        self._store.clear(_key("pair", account.casefold(), address))
