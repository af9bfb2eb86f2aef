"""Change notifications over Redis pub/sub (`redis.url`), the same bus as `notify.py`.

A dedicated thread holds the subscription with redis-py's blocking client (the subscribers
are synchronous cache drops, like the PostgreSQL listener's); publishing is one PUBLISH.
After a lost connection the thread reconnects with backoff and every subscriber resyncs.
"""

from __future__ import annotations

import redis
import structlog

from authbridge.storage.notify import CHANNEL, ListeningBus

__all__ = ["RedisBus", "redis_client"]

log = structlog.get_logger("authbridge")


def redis_client(url: str, *, timeout: float = 5.0, name: str | None = None) -> redis.Redis:
    """A client of `redis.url`, every wait bounded; `name` shows in CLIENT LIST."""
    return redis.Redis.from_url(
        url,
        client_name=name,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )


class RedisBus(ListeningBus):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._client = redis_client(url)

    @property
    def listener_name(self) -> str:
        return f"authbridge-changes-{self.origin}"

    def publish(self, topic: str, payload: str = "") -> None:
        self.deliver(topic, payload)
        try:
            self._client.publish(CHANNEL, self.encode(topic, payload))
        except redis.RedisError as exc:  # the periodic reload catches the others up
            log.warning("change_publish_failed", topic=topic, error=type(exc).__name__)

    def close(self) -> None:
        super().close()
        self._client.close()

    def _listen(self, first: bool) -> None:
        client = redis_client(self._url, name=self.listener_name)
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(CHANNEL)
            self._connected(first)
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self.receive(message["data"])
        finally:
            pubsub.close()
            client.close()
