"""The two short-lived shared things replicas count: rate-limit counters and replay markers.

One interface per concept, two implementations each, chosen once at start-up by
`counters_for` (called from the wiring, `web/services.py` and `cli/wiring.py`):

- without `redis.url`, the database: `RateLimitStore` (`ratelimits.py`) counts, and
  `DatabaseReplayCache` keeps markers as counters of one;
- with it, Redis (`redis_counters.py`): counters are `INCR` + `PEXPIRE` in one Lua script,
  markers `SET NX PX`, both expiring by TTL, so the database carries no hot counters.

What is *not* here, and why: authorization codes, refresh tokens, device codes and revoked
token ids are durable records (RFC 6749 §4.1.2 asks a replayed code to revoke what its first
use issued, which needs the code's row; a refresh token's reuse revokes its family), so
they stay in the database whatever the configuration. Pending IdP logins carry data (nonce,
PKCE verifier) and stay in the key-value store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from authbridge.clock import utcnow
from authbridge.config.model import RedisSettings
from authbridge.storage.ratelimits import RateLimitStore

__all__ = [
    "Counters",
    "DatabaseReplayCache",
    "RateCounter",
    "ReplayCache",
    "counters_for",
    "database_counters",
]


class RateCounter(Protocol):
    """Fixed-window counters shared by every replica (OWASP "Login Throttling").

    A key's window starts at its first hit and lasts `window`; a hit after it starts a new
    window at 1. `now` is the caller's clock for the database implementation; Redis owns
    time itself (the key's TTL) and ignores it. Keys absent or lapsed count 0 and may be
    missing from `counts`.
    """

    # True when a call is a network round trip (Redis): callers on an event loop must not
    # make it there (the token endpoint's inline path on SQLite).
    remote: bool

    def hit(self, key: str, *, now: datetime, window: timedelta) -> int: ...

    def counts(self, keys: list[str], *, now: datetime, window: timedelta) -> dict[str, int]: ...

    def count(self, key: str, *, now: datetime, window: timedelta) -> int: ...

    def clear(self, key: str) -> None: ...

    def release(self, key: str, *, now: datetime, window: timedelta) -> None:
        """Give one counted event back (an attempt counted before it was checked, that
        turned out not to be a failure); a lapsed or zero count stays as it is."""
        ...


class ReplayCache(Protocol):
    """Single-use markers: `first_use` is True for exactly one caller per key within `ttl`,
    on any replica. The ttl must outlive whatever makes the marker acceptable (its own
    signed lifetime), or a marker could be used again once it lapsed."""

    remote: bool

    def first_use(self, key: str, ttl: timedelta) -> bool: ...


class DatabaseReplayCache:
    """Markers as counters of one in the rate-limit table: the first hit of a key wins.
    The counter upsert is one atomic statement, so of replicas racing one sees 1."""

    remote = False

    def __init__(self, counters: RateLimitStore) -> None:
        self._counters = counters

    def first_use(self, key: str, ttl: timedelta) -> bool:
        # The key as written before this interface existed ("reauth:<id>"), so a marker
        # used on a replica not yet upgraded is still refused on an upgraded one.
        return self._counters.hit(key, now=utcnow(), window=ttl) == 1


@dataclass(frozen=True)
class Counters:
    """The counters and markers the services use, and what `/readyz` pings (None: the
    database's own check covers them)."""

    rate: RateCounter
    replay: ReplayCache
    # Raises when the counters' own backend does not answer (Redis); None for the database,
    # which `/readyz` checks anyway.
    ping: Callable[[], None] | None = None
    close: Callable[[], None] | None = None  # releases the backend's connections

    @property
    def backend(self) -> str:
        return "redis" if self.rate.remote else "database"


def database_counters(store: RateLimitStore) -> Counters:
    """Today's counters: rows of the rate-limit table, swept by housekeeping."""
    return Counters(rate=store, replay=DatabaseReplayCache(store))


def counters_for(store: RateLimitStore, redis: RedisSettings) -> Counters:
    """Redis when it is configured, else the database: decided once, by the wiring.

    Redis is not contacted here (the client connects on first use), so a Redis outage at
    start-up does not keep the service from starting: the requests that need a counter
    answer 503 until it is back, and `/readyz` says why."""
    if redis.url is None:
        return database_counters(store)
    # Imported only when configured: redis-py costs a quarter second at start-up and loads
    # OpenTelemetry's SDK with it (its own observability hooks), which tracing-off must not.
    from authbridge.storage.redis_client import ping, redis_client
    from authbridge.storage.redis_counters import RedisRateCounter, RedisReplayCache

    client = redis_client(redis.url, redis.timeout)
    return Counters(
        rate=RedisRateCounter(client, redis.key_prefix),
        replay=RedisReplayCache(client, redis.key_prefix),
        ping=lambda: ping(client),
        close=client.close,
    )
