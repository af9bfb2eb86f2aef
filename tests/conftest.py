"""Shared fixtures: a database per backend, settings, and the app on a test client.

The PostgreSQL backend runs when AUTHBRIDGE_TEST_DATABASE_URL is set (CI sets it): each
test session creates a database of its own there and drops it at the end. The Redis tests
run when AUTHBRIDGE_TEST_REDIS_URL is set (CI sets it): each test writes under a key prefix
of its own and deletes only that prefix's keys.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authbridge.config import Settings, load_settings
from authbridge.config.model import PasswordHashSettings
from authbridge.storage import Storage
from authbridge.storage.database import Database, engine_url
from authbridge.storage.notify import PostgresBus

PG_ENV = "AUTHBRIDGE_TEST_DATABASE_URL"
REDIS_ENV = "AUTHBRIDGE_TEST_REDIS_URL"
# argon2 at its smallest cost (8 KiB, one pass) for tests that are not about hashing cost:
# the OWASP floor (19 MiB, two passes) made every sign-up and sign-in of the suite pay ~50 ms.
# The settings model refuses such a cost from any configuration; `model_construct` skips that
# validation, so only code that builds Settings objects itself (these tests) can ask for it.
CHEAP_HASHING = PasswordHashSettings.model_construct(memory_cost=8, time_cost=1, parallelism=1)
HASH_ENV_PREFIX = "AUTH__LOCAL__PASSWORD_HASH__"
# A TestClient's peer address on this machine (the mock IdP serves loopback callers only).
LOCAL = ("127.0.0.1", 50000)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"authbridge_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(engine_url(base)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _fresh_postgres(server_url: str) -> str:
    """Each test gets an empty schema: drop everything the last test left."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return server_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL on each backend: a new SQLite file, or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'authbridge.db'}"
    server_url: str = request.getfixturevalue("postgres_server_url")
    return _fresh_postgres(server_url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (a shared server: tests keep to their own key prefix)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_ENV} does not answer: {type(exc).__name__}")
    finally:
        client.close()
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys (and only they) are deleted afterwards."""
    prefix = f"authbridge-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    store = Storage.open(database_url)
    yield store
    store.db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'authbridge.db'}"


@contextmanager
def started_clients() -> Iterator[Callable[..., TestClient]]:
    """A `start(app, **options)` that runs an app's lifespan on a TestClient (base URL
    http://localhost:8080 unless given); every client it started is shut down at the end."""
    clients: list[TestClient] = []

    def start(app: Any, **options: Any) -> TestClient:
        options.setdefault("base_url", "http://localhost:8080")
        options.setdefault("client", LOCAL)
        client = TestClient(app, **options)
        client.__enter__()
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            client.__exit__(None, None, None)


def with_cheap_hashing(settings: Settings) -> Settings:
    """`settings` with argon2 at CHEAP_HASHING's cost (never reachable from a config file)."""
    local = settings.auth.local.model_copy(update={"password_hash": CHEAP_HASHING})
    auth = settings.auth.model_copy(update={"local": local})
    return settings.model_copy(update={"auth": auth})


def make_settings(database_url: str, **env: str) -> Settings:
    """Settings as the loader makes them from `env`; argon2 is cheap unless `env` sets it."""
    environ: dict[str, Any] = {"DATABASE__URL": database_url, **env}
    settings = load_settings(None, environ)
    if any(name.startswith(HASH_ENV_PREFIX) for name in env):
        return settings
    return with_cheap_hashing(settings)


@pytest.fixture
def redis_channel(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Change notifications on a channel of this test's own, on the test Redis (`redis_url`):
    other runs sharing the Redis never hear it."""
    import secrets

    from authbridge.storage import notify, notify_redis

    name = f"authbridge_test_{secrets.token_hex(6)}"
    monkeypatch.setattr(notify, "CHANNEL", name)
    monkeypatch.setattr(notify_redis, "CHANNEL", name)
    return name


FIGURES = "figures"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Measured figures a test recorded (`request.node.user_properties` entries named
    "figures"), printed after the run: with or without -s, and from xdist workers too
    (a report's user properties travel to the controller)."""
    seen: list[str] = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", ()):
                if name == FIGURES and value not in seen:
                    seen.append(str(value))
    if seen:
        terminalreporter.write_sep("-", "measured figures")
        for line in seen:
            terminalreporter.write_line(line)


@pytest.fixture
def replicas(postgres_server_url: str) -> Iterator[tuple[Storage, Storage]]:
    """Two replicas of one PostgreSQL database, each with its own pool and bus."""
    url = _fresh_postgres(postgres_server_url)
    opened: list[Storage] = []
    for _ in range(2):
        db = Database(url)
        db.upgrade()
        opened.append(Storage(db, PostgresBus(db)))
        opened[-1].directory.listen()
    try:
        for storage in opened:
            bus = storage.changes
            assert isinstance(bus, PostgresBus) and bus.listening.wait(10)
        yield opened[0], opened[1]
    finally:
        for storage in opened:
            storage.changes.close()
            storage.db.dispose()
