"""Change notifications between replicas: one small bus, `publish(topic, payload)` and
`subscribe(topic, callback)`.

A replica that changes something others cache (signing keys, registered clients,
revocations) publishes a topic after its transaction commits; every replica's subscribers
run (the key ring drops its snapshot, the client cache forgets a client) within a second
instead of at the next periodic reload, which stays as the fallback for a missed message.

- `LocalBus`: in-process only (SQLite: one file, usually one process; periodic reloads
  cover the others).
- `PostgresBus`: PostgreSQL `NOTIFY` on publish, and one dedicated thread per process that
  `LISTEN`s on its own connection (psycopg, outside the pool). When that connection breaks
  (a database restart) the thread reconnects with backoff and, once back, tells every
  subscriber to resynchronise (payload `""`): whatever was published meanwhile is lost.
- `storage/notify_redis.py`: the same over Redis pub/sub when `redis.url` is set.

Delivery is at most once and best effort (NOTIFY and pub/sub drop messages for a listener
that is away): callbacks must be idempotent and cheap (drop a cache entry), never the only
way a change is seen. A callback runs on the listener's thread; it must not block.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url

from authbridge.storage.database import Database

__all__ = ["CHANNEL", "ChangeBus", "LocalBus", "PostgresBus", "Topic", "change_bus"]

log = structlog.get_logger("authbridge")

# One channel for every topic: one LISTEN per process, the topic travels in the payload.
CHANNEL = "authbridge_changes"
MAX_BACKOFF = 15.0

Callback = Callable[[str], None]


class Topic:
    """What changed. A payload names the item (a client id) or is "" (reload everything)."""

    KEYS = "keys"
    CLIENTS = "clients"
    REVOCATIONS = "revocations"
    # SCIM credentials added or retired: every replica reloads its active set.
    SCIM_CREDENTIALS = "scim_credentials"
    # Users, role bindings, teams, members or SCIM groups written (storage/directory_watch.py).
    DIRECTORY = "directory"


class ChangeBus(Protocol):
    def publish(self, topic: str, payload: str = "") -> None:
        """Tell every replica (this one included) that `topic` changed."""
        ...

    def subscribe(self, topic: str, callback: Callback) -> None:
        """Run `callback(payload)` on each change of `topic`; `""` also means "resync"."""
        ...

    def close(self) -> None: ...


class LocalBus:
    """Delivers to this process's subscribers, at once and on the publisher's thread."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = defaultdict(list)
        self._lock = threading.Lock()
        # Tells this process's own messages apart when a transport echoes them back.
        self.origin = secrets.token_hex(8)

    def publish(self, topic: str, payload: str = "") -> None:
        self.deliver(topic, payload)

    def subscribe(self, topic: str, callback: Callback) -> None:
        with self._lock:
            self._subscribers[topic].append(callback)

    def deliver(self, topic: str, payload: str) -> None:
        with self._lock:
            callbacks = list(self._subscribers.get(topic, ()))
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("change_callback_failed", topic=topic)

    def resync(self) -> None:
        """Every subscriber reloads: messages may have been missed."""
        with self._lock:
            topics = list(self._subscribers)
        for topic in topics:
            self.deliver(topic, "")

    def close(self) -> None:
        return None

    # -- helpers for transports ------------------------------------------------------------

    def encode(self, topic: str, payload: str) -> str:
        return json.dumps({"t": topic, "p": payload, "o": self.origin}, separators=(",", ":"))

    def receive(self, message: str | bytes) -> None:
        """A message from the transport: delivered unless this process sent it."""
        try:
            data: Any = json.loads(message)
            topic, payload, origin = data["t"], data.get("p", ""), data.get("o")
        except (ValueError, KeyError, TypeError):
            log.warning("change_message_malformed")
            return
        if origin != self.origin and isinstance(topic, str) and isinstance(payload, str):
            self.deliver(topic, payload)


class ListeningBus(LocalBus):
    """A bus whose remote messages arrive on one background thread, started on the first
    subscription (a CLI command only publishes and starts none), reconnecting forever."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set while the listener is connected and listening (tests wait on it).
        self.listening = threading.Event()

    def subscribe(self, topic: str, callback: Callback) -> None:
        super().subscribe(topic, callback)
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="authbridge-changes", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5.0)

    def _run(self) -> None:
        delay = 0.5
        first = True
        while not self._stop.is_set():
            try:
                self._listen(first)
                delay = 0.5
            except Exception as exc:
                self.listening.clear()
                log.warning("change_listener_lost", error=type(exc).__name__, retry_in=delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, MAX_BACKOFF)
            first = False

    def _connected(self, first: bool) -> None:
        self.listening.set()
        if not first:
            log.info("change_listener_reconnected")
            self.resync()

    def _listen(self, first: bool) -> None:
        raise NotImplementedError


class PostgresBus(ListeningBus):
    """NOTIFY to publish (through the pool), LISTEN on a dedicated psycopg connection."""

    def __init__(self, db: Database, *, connect_timeout: float = 5.0) -> None:
        super().__init__()
        self._db = db
        url = make_url(db.url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._connect_timeout = connect_timeout

    def publish(self, topic: str, payload: str = "") -> None:
        self.deliver(topic, payload)
        try:
            with self._db.session() as session:
                session.execute(
                    text("SELECT pg_notify(:c, :p)"),
                    {"c": CHANNEL, "p": self.encode(topic, payload)},
                )
        except Exception as exc:  # the periodic reload catches the others up
            log.warning("change_publish_failed", topic=topic, error=type(exc).__name__)

    def _listen(self, first: bool) -> None:
        import psycopg  # storage's own driver; only this module talks to it directly

        with psycopg.connect(
            self._dsn,
            autocommit=True,
            connect_timeout=max(1, int(self._connect_timeout)),
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._connected(first)
            while not self._stop.is_set():
                for notify in connection.notifies(timeout=1.0):
                    self.receive(notify.payload)
                # A connection killed by the server raises from notifies(); one cut
                # silently is found by the keepalives above.


def change_bus(db: Database, redis_url: str | None = None) -> ChangeBus:
    """The bus the deployment supports: Redis pub/sub when `redis.url` is set, PostgreSQL
    LISTEN/NOTIFY on PostgreSQL, else in-process only (SQLite)."""
    if redis_url:
        from authbridge.storage.notify_redis import RedisBus

        return RedisBus(redis_url)
    if db.dialect == "postgresql":
        return PostgresBus(db)
    return LocalBus()
