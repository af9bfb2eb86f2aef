"""Red team on the cache of service accounts' subjects for client_credentials grants
(storage/directory_watch.py, `ProviderStore.service_subject`).

The promise: in the process that wrote, the next client_credentials grant after the writing
call returned never reflects the directory before the write. The watch sees writes by the
SQL text of each statement on the pooled connections, so the attacks are the spellings of a
directory write its pattern could miss, and writes that reach a directory table without
naming it (foreign-key cascades, triggers, statements that bypass the pool's events).
"""

from __future__ import annotations

import importlib
import pkgutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, inspect, text

import authbridge.storage
from authbridge.storage import Storage
from authbridge.storage.database import Database
from authbridge.storage.directory_watch import DIRECTORY_TABLES, writes_directory
from authbridge.storage.hot import HotStatement
from authbridge.storage.models import User
from authbridge.storage.teams import TeamRef
from tests.provider.test_service_subject_cache import _grant, _refused, _roles
from tests.provider.test_token import provider_of
from tests.storage.test_directory_watch import _until

# Writes of a directory table a hand-written statement (an operator's fix through the
# app's pool, a future store) may spell: schema-qualified names, SQLite's conflict clauses
# and REPLACE, comments between the keywords, TRUNCATE of a list, quoted names without a
# space before them. Each one missed would leave a stale subject served in this process.
# Statements that must stay outside the directory (a token write must not end the cache).


def _account(client: TestClient) -> tuple[Storage, str, str, str]:
    storage = client.app.state.services.ready().storage
    created = provider_of(client).add_service_account("etl", "editor", lifetime=600)
    assert created.client.service_user_id is not None and created.secret
    return storage, created.client.client_id, created.secret, created.client.service_user_id


def test_a_schema_qualified_write_through_the_pool_ends_the_cached_subject(
    any_backend_client: TestClient,
) -> None:
    """Attack: an operator disables the account with `UPDATE <schema>.users` through the
    app's own pool (the watch's promise: any statement on any of its connections). Before
    the fix the cached, active subject was served until its 2 s ran out."""
    client = any_backend_client
    storage, client_id, secret, user_id = _account(client)
    assert _roles(_grant(client, client_id, secret)) == ["editor"]  # cached now
    schema = "main" if storage.db.dialect == "sqlite" else "public"
    with storage.db.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {schema}.users SET active = :no WHERE id = :u"),
            {"no": False, "u": user_id},
        )
    assert _refused(_grant(client, client_id, secret))


def test_deletes_that_cascade_into_the_directory_end_the_cached_subject(
    any_backend_client: TestClient,
) -> None:
    """Deleting a team takes its members and bindings with it by foreign-key cascade (no
    statement names team_members or role_bindings); deleting the user takes the account
    (and its client)."""
    client = any_backend_client
    storage, client_id, secret, user_id = _account(client)
    team_id = storage.teams.add_member(TeamRef.own("local", "Ops"), user_id)
    storage.bindings.add("admin", team_id=team_id, origin="test")
    assert _roles(_grant(client, client_id, secret)) == ["admin", "editor"]
    assert _roles(_grant(client, client_id, secret)) == ["admin", "editor"]  # cached
    assert storage.team_admin.delete(team_id) is not None
    assert _roles(_grant(client, client_id, secret)) == ["editor"]
    with storage.db.session() as session:  # its client goes too (service_user_id cascades)
        session.execute(delete(User).where(User.id == user_id))
    assert _grant(client, client_id, secret).status_code in (400, 401)


def test_cascades_into_the_directory_start_in_the_directory(storage: Storage) -> None:
    """A statement writes a directory table without naming it only through a foreign key's
    action (ON DELETE/UPDATE CASCADE, SET NULL, SET DEFAULT) or a trigger. Every foreign key
    of a directory table must point at a directory table, so the statement that sets the
    cascade off names a watched table; and no trigger may exist."""
    inspector = inspect(storage.db.engine)
    for table in inspector.get_table_names():
        for key in inspector.get_foreign_keys(table):
            if table in DIRECTORY_TABLES:
                assert key["referred_table"] in DIRECTORY_TABLES, (table, key)
    with storage.db.engine.connect() as conn:
        if storage.db.dialect == "sqlite":
            triggers = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all()
        else:
            triggers = conn.execute(
                text("SELECT trigger_name FROM information_schema.triggers")
            ).all()
    assert triggers == []


def test_no_hot_statement_writes_the_directory() -> None:
    """`HotStatement` runs on the driver's cursor, past `before_cursor_execute`: the watch
    never sees it, so none of them may write a directory table."""
    found: list[HotStatement] = []
    for module in pkgutil.walk_packages(authbridge.storage.__path__, "authbridge.storage."):
        if ".migrations" in module.name:
            continue
        loaded = importlib.import_module(module.name)
        found += [value for value in vars(loaded).values() if isinstance(value, HotStatement)]
    assert found  # the walk saw the provider's statements
    assert [s.sql for s in found if writes_directory(s.sql)] == []


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers (a partition that
    drops the replies): each command waits out the client's whole timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # never accepted: the kernel completes the handshakes, nobody reads
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        server.close()


def test_a_silent_redis_does_not_hold_directory_writes(sqlite_url: str, silent_redis: str) -> None:
    """Attack: with `redis.url` set, the watch published on Redis from the pool's check-in,
    on the writer's thread with its connection not yet back in the pool: a Redis that stops
    answering held every directory write (a sign-in syncing groups, a SCIM push) for the
    client's timeout twice over (about 10 s), each holding a database connection, until
    the pool ran dry. The other replicas' bound is the entries' 2 s anyway: the message
    goes out off the writer's thread, and this process still sees the write at once."""
    from authbridge.storage.notify_redis import RedisBus

    db = Database(sqlite_url)
    db.upgrade()
    bus = RedisBus(silent_redis)
    storage = Storage(db, bus)
    try:
        user = storage.users.create(username="svc@example.com")
        before = storage.directory.generation
        started = time.monotonic()
        storage.users.set_active(user.id, False)
        assert time.monotonic() - started < 2.0
        assert storage.directory.generation != before
    finally:
        bus.close()
        db.dispose()


def test_a_write_whose_connection_died_is_still_announced(
    replicas: tuple[Storage, Storage],
) -> None:
    """Attack: the NOTIFY goes on the writing connection; one invalidated after its commit
    (the server or the network lost it on the way back) was returned to the pool with no
    connection to send it on, so the other replicas served the old subject for the rest of
    the entries' 2 s. It is published through the bus instead."""
    first, second = replicas
    seen = first.directory.generation
    user = second.users.create(username="svc@example.com")
    assert _until(lambda: first.directory.generation != seen)
    time.sleep(0.3)  # no other message on the way
    seen = first.directory.generation
    with second.db.engine.connect() as conn:
        conn.execute(text("UPDATE users SET active = false WHERE id = :u"), {"u": user.id})
        conn.commit()
        conn.invalidate()  # lost before it went back to the pool
    assert _until(lambda: first.directory.generation != seen, 1.5)


def test_the_statement_memo_keeps_no_long_statements(storage: Storage) -> None:
    """Attack: the watch remembered each distinct statement text it judged (up to 4096):
    a bulk INSERT renders one text per row count (insertmanyvalues batches, IN lists per
    length), tens of kilobytes each, so a SCIM client adding members in varied numbers kept
    some hundred megabytes alive. Long statements are judged each time instead."""

    class _Conn:
        info: dict[str, bool] = {}

    watch = storage.directory
    for rows in range(1, 1001):
        values = ", ".join(["(%(team_id)s, %(user_id)s)"] * rows)
        statement = f"INSERT INTO team_members (team_id, user_id) VALUES {values}"
        conn = _Conn()
        conn.info = {}
        watch._statement(conn, None, statement)
        assert conn.info  # still seen as a directory write, memo or not
    assert sum(len(statement) for statement in watch._memo) < 4096 * 1024


def test_reads_racing_writes_never_outlive_the_write(storage: Storage) -> None:
    """Attack: readers fill the cache while a writer adds and removes a binding; each time
    the writing call returns, the writer's next read must show its write, whatever the
    readers kept meanwhile (a read that began before the commit is kept under the old
    generation only)."""
    user = storage.users.create(username="svc@example.com", roles=["viewer"])
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            storage.provider.service_subject(user.id)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(20):
            storage.bindings.add("editor", user_id=user.id, origin="test")
            subject = storage.provider.service_subject(user.id)
            assert subject is not None and ("editor", "system") in subject.grants.bindings
            storage.bindings.remove("editor", user_id=user.id)
            subject = storage.provider.service_subject(user.id)
            assert subject is not None and ("editor", "system") not in subject.grants.bindings
    finally:
        stop.set()
        for reader in readers:
            reader.join()


def test_a_directory_write_on_the_pinned_sqlite_connection_counts(storage: Storage) -> None:
    """Attack: on SQLite the provider's hot transactions share one connection that never
    goes back to the pool, so a directory write there would mark it and never move the
    generation (today none of its statements writes the directory; a future one, such as
    touching the user on rotation, would hide behind the cache for good)."""
    user = storage.users.create(username="svc@example.com")
    before = storage.directory.generation
    with storage.provider._hot_transaction() as conn:
        conn.execute(text("UPDATE users SET name = 'x' WHERE id = :u"), {"u": user.id})
    assert storage.directory.generation != before
