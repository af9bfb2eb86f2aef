"""Rate-limit counters and replay markers in Redis (`counters.py` says when and why).

Both expire by Redis's own TTL, so nothing here needs garbage collection, and both are one
atomic command per call, so replicas sharing the Redis agree:

- a counter hit is a Lua script, `INCR` then `PEXPIRE` when the key has no TTL yet (a new
  window): a fixed window starting at the first hit, as the database's counters do; a
  client dying between the two commands cannot leave a counter without expiry;
- a release (an attempt given back) is a Lua script too: `DECR` only a live positive count;
- a marker is `SET key 1 NX PX ttl`: exactly one caller creates it.

Redis unreachable or too slow (`redis_client.py`'s timeout) raises storage's Unavailable:
the request answers 503. Never fail open: a throttle or a replay check that cannot be made
refuses the request rather than letting it through unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import redis

from authbridge.storage.errors import RedisUnavailable
from authbridge.storage.loop_io import offloadable_methods
from authbridge.storage.redis_client import DOWN

__all__ = ["RedisRateCounter", "RedisReplayCache"]

# KEYS[1] the counter, ARGV[1] the window in ms. A key without TTL (-1) is a new window.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""
# KEYS[1] the counter. Only a live positive count goes down: a lapsed key stays absent.
_RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
"""


@contextmanager
def _answering() -> Iterator[None]:
    try:
        yield
    except DOWN as exc:
        # The type only: redis-py's messages name host and port, never the password, but
        # the URL is the operator's to print (redacted), not ours to echo.
        raise RedisUnavailable(f"redis: {type(exc).__name__}") from None


def _ms(window: timedelta) -> int:
    return max(1, int(window.total_seconds() * 1000))


# Grants on the event loop run these in a grant thread (storage/loop_io.py).
@offloadable_methods()
class RedisRateCounter:
    """`RateCounter` over Redis: keys `<prefix>rl:<key>`, expiring with their window."""

    remote = True

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "rl:"
        self._hit = client.register_script(_HIT)  # EVALSHA, loading the script on NOSCRIPT
        self._release = client.register_script(_RELEASE)

    def hit(self, key: str, *, now: datetime, window: timedelta) -> int:
        with _answering():
            return int(self._hit(keys=[self._prefix + key], args=[_ms(window)]))

    def counts(self, keys: list[str], *, now: datetime, window: timedelta) -> dict[str, int]:
        if not keys:
            return {}
        with _answering():
            values = self._client.mget([self._prefix + key for key in keys])
        return {key: int(value) for key, value in zip(keys, values, strict=True) if value}

    def count(self, key: str, *, now: datetime, window: timedelta) -> int:
        return self.counts([key], now=now, window=window).get(key, 0)

    def clear(self, key: str) -> None:
        with _answering():
            self._client.delete(self._prefix + key)

    def release(self, key: str, *, now: datetime, window: timedelta) -> None:
        with _answering():
            self._release(keys=[self._prefix + key])


@offloadable_methods()
class RedisReplayCache:
    """`ReplayCache` over Redis: keys `<prefix>seen:<key>`, `SET NX PX`."""

    remote = True

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "seen:"

    def first_use(self, key: str, ttl: timedelta) -> bool:
        with _answering():
            return bool(self._client.set(self._prefix + key, b"1", nx=True, px=_ms(ttl)))
