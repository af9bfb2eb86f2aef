"""Throttling of failed password sign-ins (OWASP Authentication Cheat Sheet, "Login Throttling"),
and of failed credential checks of programs (OAuth clients, SCIM provisioning sources).

Three fixed-window limits count failures: per (account, client address), per client address,
and per account. None locks anyone out for good: every limit lapses with its window, and a
browser that has signed in to the account before carries a device cookie that exempts it
from the per-account and per-address limits (OWASP "device cookies"), so an attacker who
floods an account from elsewhere cannot keep its owner out. A client address is counted as
its network (`caller_network`): an IPv6 site's /64, whose hosts can pick any address in it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authbridge.clock import utcnow
from authbridge.config.model import RateLimitSettings
from authbridge.storage.counters import RateCounter
from authbridge.storage.users import username_key

__all__ = [
    "Attempt",
    "CredentialLimits",
    "CredentialThrottle",
    "MailThrottle",
    "SignInThrottle",
    "caller_network",
]


@dataclass(frozen=True)
class Attempt:
    """The verdict before a password is checked: go ahead, or wait `retry_after` seconds."""

    retry_after: int | None
    earlier_failures: bool

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


IPV6_SITE_PREFIX = 64  # RFC 7421: the usual subnet of one site; its hosts pick any of 2^64


def caller_network(address: str) -> str:
    """Whom a failure is counted against: an IPv4 address (an IPv4-mapped IPv6 one as its
    IPv4 form, RFC 4291 §2.5.5.2), or an IPv6 address's /64. One IPv6 site can use a fresh
    address per request (RFC 8981), so counting /128s would never reach a limit."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a unix socket): counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_SITE_PREFIX), strict=False))
    return str(ip)


def _folded(account: str) -> str:
    """The name an account's counters are kept under: every spelling a directory would match
    as the same name folds to one (RFC 4518 §2 prepares both sides of an LDAP match:
    compatibility forms, case; slapd signs fullwidth `alice` and `AL\u0130CE` in as `alice`), so
    no spelling gets guesses of its own. Folding more than a directory does only makes a
    few names share a counter."""
    decomposed = unicodedata.normalize("NFKD", account)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFKC", bare).casefold().split())


class SignInThrottle:
    def __init__(
        self,
        store: RateCounter,
        limits: RateLimitSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._limits = limits
        self._window = timedelta(seconds=limits.window)
        self._clock = clock

    def _keys(self, account: str, address: str, device: str | None) -> list[tuple[str, int]]:
        account = _folded(account)
        address = caller_network(address)
        if device:
            # A browser that signed in to this account before is counted on its own: a flood
            # from elsewhere (or from behind the same NAT) does not reach it.
            return [(_key("device", account, device), self._limits.per_account_and_address)]
        return [
            (_key("pair", account, address), self._limits.per_account_and_address),
            (_key("addr", address), self._limits.per_address),
            (_key("acct", account), self._limits.per_account),
        ]

    def check(self, account: str, address: str, *, device: str | None = None) -> Attempt:
        """Whether a sign-in attempt may go ahead; checked before the password is verified.

        `device` is the id from a valid device cookie issued for this same account. All
        counters are read in one query.
        """
        keys = self._keys(account, address, device)
        counts = self._store.counts(
            [key for key, _ in keys], now=self._clock(), window=self._window
        )
        throttled = any(counts.get(key, 0) >= limit for key, limit in keys)
        return Attempt(
            retry_after=self._limits.window if throttled else None,
            earlier_failures=counts.get(keys[0][0], 0) > 0,
        )

    def counted(self, account: str, address: str, *, device: str | None = None) -> Attempt:
        """Count one attempt before it is checked, and whether it may go ahead. Each
        counter is one atomic increment, so of requests racing only the limit's worth go
        ahead: `check` then `failed` let every request that read the count together
        through. A right password then calls `signed_in` (the attempt was no failure); a
        second step's code counts right or wrong (a check is cheap) and a right one
        `succeeded`s with `earlier_failures` to clear its own."""
        now = self._clock()
        keys = self._keys(account, address, device)
        over = [self._store.hit(key, now=now, window=self._window) > limit for key, limit in keys]
        return Attempt(
            retry_after=self._limits.window if any(over) else None, earlier_failures=True
        )

    def signed_in(self, account: str, address: str, *, device: str | None = None) -> None:
        """A right password after `counted`: this browser's count (per account and address,
        or its device's) starts over, and the shared limits (per address, per account) get
        this attempt back, so sign-ins that succeed never add up to a limit (an office
        behind one address)."""
        now = self._clock()
        (own, _), *shared = self._keys(account, address, device)
        self._store.clear(own)
        for key, _limit in shared:
            self._store.release(key, now=now, window=self._window)

    def not_a_guess(self, account: str, address: str, *, device: str | None = None) -> None:
        """Give a `counted` attempt back that could not be checked (a directory that did not
        answer): only wrong passwords may use up the limits."""
        now = self._clock()
        for key, _limit in self._keys(account, address, device):
            self._store.release(key, now=now, window=self._window)

    def failed(self, account: str, address: str, *, device: str | None = None) -> None:
        now = self._clock()
        for key, _limit in self._keys(account, address, device):
            self._store.hit(key, now=now, window=self._window)

    def succeeded(
        self, account: str, address: str, attempt: Attempt, *, device: str | None = None
    ) -> None:
        """Forget this browser's failures for the account (nothing to do if it had none)."""
        if attempt.earlier_failures:
            self._store.clear(self._keys(account, address, device)[0][0])

    def check_signup(self, address: str) -> Attempt:
        """Failed sign-ups per address: the form must say an address is taken, so without
        a limit it would be an enumeration oracle (and an argon2 hash per request)."""
        key = _key("signup", caller_network(address))
        count = self._store.counts([key], now=self._clock(), window=self._window).get(key, 0)
        throttled = count >= self._limits.per_address
        return Attempt(
            retry_after=self._limits.window if throttled else None, earlier_failures=count > 0
        )

    def signup_failed(self, address: str) -> None:
        self._store.hit(
            _key("signup", caller_network(address)), now=self._clock(), window=self._window
        )


_GO = Attempt(retry_after=None, earlier_failures=False)


@dataclass(frozen=True)
class CredentialLimits:
    """Failures per fixed window; short, so a throttled caller waits a minute, not a day."""

    window: int = 60
    per_credential_and_address: int = 10
    per_address: int = 100


class CredentialThrottle:
    """Failed authentications of a program's credential: an OAuth client at the token
    endpoint (RFC 6749 §2.3.1: "the authorization server MUST protect any endpoint
    utilizing it against brute force attacks"), a SCIM provisioning source.

    The same fixed-window counters as sign-ins (shared by replicas: the database, or Redis
    when configured), two
    limits: per (credential id, client network) and per client network (an IPv4 address,
    an IPv6 /64: `caller_network`). Deliberately none
    per credential id alone: failures from an attacker's address never block the
    legitimate caller at its own address, and every limit lapses with its window.

    The counters are read only for keys this process counted a failure for within the
    window, so a caller that never fails costs no query (the token endpoint is a hot
    path); a failure served by another replica is seen here from this process's first own
    failure for that key on, so an attacker gains at most one unchecked try per replica
    and window.
    """

    def __init__(
        self,
        store: RateCounter,
        kind: str,
        limits: CredentialLimits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._kind = kind
        self._limits = limits or CredentialLimits()
        self._window = timedelta(seconds=self._limits.window)
        self._clock = clock
        self._recent: dict[str, datetime] = {}  # key -> end of the window of its last failure
        self._recent_until = datetime.min.replace(tzinfo=UTC)  # the latest of those ends

    @property
    def store(self) -> RateCounter:
        return self._store

    def _keys(self, credential_id: str, address: str) -> list[tuple[str, int]]:
        address = caller_network(address)
        return [
            (
                _key(self._kind, "pair", credential_id, address),
                self._limits.per_credential_and_address,
            ),
            (_key(self._kind, "addr", address), self._limits.per_address),
        ]

    def check(self, credential_id: str, address: str) -> Attempt:
        """Whether a credential may be checked now; asked before it is verified."""
        if not self._recent:
            return _GO  # no recent failure in this process: the usual case costs nothing
        now = self._clock()
        if now >= self._recent_until:
            self._recent.clear()  # every window this process watched has lapsed
            return _GO
        keys = self._keys(credential_id, address)
        watched = [key for key, _ in keys if self._recent.get(key, now) > now]
        if not watched:
            return _GO
        counts = self._store.counts(watched, now=now, window=self._window)
        throttled = any(counts.get(key, 0) >= limit for key, limit in keys)
        return Attempt(
            retry_after=self._limits.window if throttled else None,
            earlier_failures=counts.get(keys[0][0], 0) > 0,
        )

    def failed(self, credential_id: str, address: str) -> None:
        now = self._clock()
        if len(self._recent) > 100_000:
            self._recent = {k: end for k, end in self._recent.items() if end > now}
        for key, _limit in self._keys(credential_id, address):
            self._store.hit(key, now=now, window=self._window)
            self._recent[key] = now + self._window
        self._recent_until = now + self._window

    def succeeded(self, credential_id: str, address: str, attempt: Attempt) -> None:
        """Forget this caller's failures (the per-address count stays: others made them)."""
        if attempt.earlier_failures:
            self._store.clear(self._keys(credential_id, address)[0][0])


class MailThrottle:
    """Requests that send mail to an address someone typed (password reset): per client
    network and per address, counted on every request whether or not an account has the
    address, so the limit itself says nothing about who has one."""

    def __init__(
        self,
        store: RateCounter,
        *,
        per_address: int = 20,
        per_email: int = 5,
        window: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._limits = {"addr": per_address, "email": per_email}
        self._window = window
        self._clock = clock

    def hit(self, kind: str, email: str, address: str) -> Attempt:
        """Count one request; throttled once either limit was already reached."""
        now = self._clock()
        keys = [
            (_key(kind, "addr", caller_network(address)), self._limits["addr"]),
            (_key(kind, "email", username_key(email)), self._limits["email"]),
        ]
        counts = [self._store.hit(key, now=now, window=self._window) for key, _ in keys]
        throttled = any(count > limit for count, (_, limit) in zip(counts, keys, strict=True))
        seconds = int(self._window.total_seconds())
        return Attempt(retry_after=seconds if throttled else None, earlier_failures=False)
