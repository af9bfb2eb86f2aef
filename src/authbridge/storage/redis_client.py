"""The Redis client of the counters: short timeouts, no retry storm, a URL never logged.

A Redis that stops answering must cost a request `timeout` seconds, not hang it (as
`database.py`'s `Timeouts` do for the database): connecting and each answer are bounded,
and a failed command is retried at most once, at once (a pooled connection the server
closed while idle), so a dead Redis answers 503 within about twice the timeout.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from authbridge.storage.errors import RedisUnavailable

__all__ = ["DOWN", "ping", "redis_client"]

# What "Redis cannot answer right now" looks like from redis-py: refused, reset, timed out,
# still loading its data set (a subclass of ConnectionError). Answered as storage's
# Unavailable, so `web/` turns it into a 503 as it does a database outage.
DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def redis_client(
    url: str, timeout: float, *, name: str = "authbridge", retries: int = 1
) -> redis.Redis:
    """A pooled client; it connects on first use, so building it never waits on Redis.

    The one client factory: the counters' and the change bus's (`notify_redis.py`) clients
    differ only in `name`, which shows in CLIENT LIST, and in `retries`: a listener takes
    none, so that a dropped connection reaches it and its subscribers resync. Idle
    connections are checked before reuse (a pub/sub listener may sit idle for long).
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), retries),
        client_name=name,
        health_check_interval=30,
    )


def ping(client: redis.Redis) -> None:
    """Raise RedisUnavailable unless Redis answers now (`/readyz`)."""
    try:
        client.ping()
    except DOWN as exc:
        raise RedisUnavailable(f"redis: {type(exc).__name__}") from None
