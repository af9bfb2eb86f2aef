"""The directory watch (storage/directory_watch.py): every write of the rows a grant reads
about its subject moves the generation before the writer's call returns, on every
backend; other replicas hear of it over the change bus; and the cache keyed by it never
serves what a finished write changed."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from authbridge.storage import Storage
from authbridge.storage.database import Database
from authbridge.storage.directory_watch import (
    DIRECTORY_TABLES,
    DirectoryWatch,
    GenerationCache,
    writes_directory,
)
from authbridge.storage.notify import LocalBus, PostgresBus
from authbridge.storage.provider_store import Q_SUBJECT
from authbridge.storage.teams import TeamRef

WRITES = [
    "INSERT INTO users (id, username) VALUES (?, ?)",
    'UPDATE "users" SET active=%(active)s WHERE users.id = %(id_1)s',
    "DELETE FROM role_bindings WHERE role_bindings.id = ?",
    "insert into team_members (team_id, user_id) values (?, ?) on conflict do nothing",
    "UPDATE teams SET name=? WHERE teams.id = ?",
    "DELETE FROM scim_groups WHERE scim_groups.team_id = ?",
    "WITH gone AS (SELECT id FROM users) DELETE FROM team_members WHERE user_id IN (1)",
    "TRUNCATE TABLE role_bindings",
    "UPDATE ONLY users SET name = 'x'",
    # Spellings the red team found missed (tests/security/test_redteam_subject_cache.py):
    "UPDATE main.users SET active = 0 WHERE id = ?",
    "UPDATE public.users SET active = false WHERE id = %(u)s",
    'UPDATE "public"."users" SET active = false',
    "DELETE FROM public.role_bindings WHERE user_id = %(u)s",
    "INSERT OR REPLACE INTO users (id, active) VALUES (?, 0)",
    "REPLACE INTO team_members (team_id, user_id) VALUES (?, ?)",
    "INSERT OR IGNORE INTO role_bindings (role) VALUES (?)",
    "UPDATE OR IGNORE users SET active = 0",
    "DELETE /* by hand */ FROM role_bindings WHERE user_id = ?",
    "DELETE -- by hand\nFROM role_bindings WHERE user_id = ?",
    "UPDATE/**/users SET active = 0",
    'DELETE FROM"users" WHERE id = ?',
    "UPDATE `users` SET active = 0",
    "TRUNCATE oauth_codes, role_bindings",
    "TRUNCATE TABLE ONLY oauth_codes, public.team_members RESTART IDENTITY",
    "MERGE INTO public.users u USING x ON true WHEN MATCHED THEN DELETE",
    "COPY users (id, username) FROM STDIN",
]
READS_AND_OTHERS = [
    "SELECT users.id FROM users WHERE users.username = ?",
    "INSERT INTO users_archive (id) VALUES (?)",
    "UPDATE oauth_refresh_tokens SET used = true WHERE EXISTS (SELECT 1 FROM users u)",
    "INSERT INTO audit_events (type, target_type) VALUES (?, ?)",
    "DELETE FROM sessions WHERE sessions.user_id = ?",
    "SELECT pg_notify(%s, %s)",
    "SELECT users.id FROM main.users WHERE users.username = ?",
    "INSERT INTO users_archive (id) VALUES (?)",
    "UPDATE public.oauth_refresh_tokens SET used = true WHERE EXISTS (SELECT 1 FROM users u)",
    "UPDATE oauth_codes SET used_at = ? /* users */ WHERE code_hash = ?",
    "DELETE FROM main.sessions WHERE sessions.user_id = ?",
    "TRUNCATE oauth_codes, users_archive",
    "COPY users TO STDOUT",
]


@pytest.mark.parametrize("statement", WRITES)
def test_every_spelling_of_a_directory_write_is_seen(statement: str) -> None:
    assert writes_directory(statement)


@pytest.mark.parametrize("statement", READS_AND_OTHERS)
def test_reads_and_other_tables_are_not_writes_of_the_directory(statement: str) -> None:
    assert not writes_directory(statement)


def test_the_watched_tables_are_the_ones_the_subject_read_reads() -> None:
    """A table added to the grant's subject read must be watched too, or its writes would
    hide behind the cache."""
    read = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", Q_SUBJECT.sql, re.IGNORECASE))
    assert read == set(DIRECTORY_TABLES)


def _moves(storage: Storage, act: Callable[[], object]) -> bool:
    before = storage.directory.generation
    act()
    return storage.directory.generation != before


def test_each_kind_of_write_moves_the_generation_before_it_returns(storage: Storage) -> None:
    user = storage.users.create(username="svc@example.com", roles=["viewer"])
    assert _moves(storage, lambda: storage.users.set_active(user.id, False))
    assert _moves(storage, lambda: storage.bindings.add("editor", user_id=user.id, origin="t"))
    assert _moves(storage, lambda: storage.bindings.remove("editor", user_id=user.id))
    ref = TeamRef.own("local", "Data Eng")
    team_id: list[str] = []
    assert _moves(storage, lambda: team_id.append(storage.teams.add_member(ref, user.id)))
    assert _moves(storage, lambda: storage.teams.remove_member(team_id[0], user.id))
    assert _moves(storage, lambda: storage.users.create(username="b@example.com"))


def test_reads_and_token_writes_leave_the_generation_alone(storage: Storage) -> None:
    user = storage.users.create(username="svc@example.com", roles=["viewer"])
    assert not _moves(storage, lambda: storage.users.get(user.id))
    assert not _moves(storage, lambda: storage.bindings.grants(user.id))
    assert not _moves(storage, lambda: storage.provider.subject(user.id))
    assert not _moves(storage, lambda: storage.values.put("k", "v"))


def test_a_write_by_hand_through_the_pool_is_seen(storage: Storage) -> None:
    """Not only the stores: any statement on any of the database's connections."""
    user = storage.users.create(username="svc@example.com")
    with storage.db.engine.begin() as conn:
        before = storage.directory.generation
        conn.execute(text("UPDATE users SET name = 'x' WHERE id = :u"), {"u": user.id})
    assert storage.directory.generation != before
    before = storage.directory.generation
    with storage.db.autocommit() as conn:
        conn.execute(text("UPDATE users SET name = 'y' WHERE id = :u"), {"u": user.id})
    assert storage.directory.generation != before


class _Watch(DirectoryWatch):
    def __init__(self) -> None:  # no database: the cache's rules alone
        self._local = 0
        self._shared = None
        self._listening = None
        self._lock = threading.Lock()


def test_the_cache_serves_within_its_lifetime_and_generation_only() -> None:
    now = [100.0]
    watch = _Watch()
    cache: GenerationCache[str, str] = GenerationCache(watch, seconds=2.0, clock=lambda: now[0])
    reads: list[str] = []

    def read(key: str) -> str:
        reads.append(key)
        return f"{key}-{len(reads)}"

    assert cache.get("a", read) == "a-1"
    assert cache.get("a", read) == "a-1"
    now[0] += 1.99
    assert cache.get("a", read) == "a-1"
    now[0] += 0.02
    assert cache.get("a", read) == "a-2"  # the lifetime bounds a write nobody announced
    watch.advance()
    assert cache.get("a", read) == "a-3"  # a write seen ends it at once
    assert reads == ["a", "a", "a"]


def test_a_write_during_the_read_is_not_kept() -> None:
    """The generation is taken before the row is read: a write committing meanwhile (the
    read may have seen the row before it) makes the next call read again."""
    watch = _Watch()
    cache: GenerationCache[str, int] = GenerationCache(watch)
    calls = [0]

    def read(_key: str) -> int:
        calls[0] += 1
        if calls[0] == 1:
            watch.advance()
        return calls[0]

    assert cache.get("a", read) == 1
    assert cache.get("a", read) == 2
    assert cache.get("a", read) == 2


def test_only_what_keep_accepts_is_kept() -> None:
    watch = _Watch()
    cache: GenerationCache[str, bool] = GenerationCache(watch, keep=lambda active: active)
    values = iter([False, True, True])
    assert cache.get("a", lambda _k: next(values)) is False
    assert cache.get("a", lambda _k: next(values)) is True
    assert cache.get("a", lambda _k: False) is True


def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_another_replicas_write_reaches_this_one(replicas: tuple[Storage, Storage]) -> None:
    """The NOTIFY is sent on the writing connection after its commit; a replica that only
    read sends nothing."""
    first, second = replicas
    seen = first.directory.generation
    user = second.users.create(username="svc@example.com")
    # The creation's own message first (under load it could land after `seen` below).
    assert _until(lambda: first.directory.generation != seen)
    time.sleep(0.3)
    seen = first.directory.generation
    second.users.set_active(user.id, False)
    assert _until(lambda: first.directory.generation != seen)
    seen = first.directory.generation
    second.users.get(user.id)
    second.provider.subject(user.id)
    time.sleep(0.3)
    assert first.directory.generation == seen


def test_nothing_is_served_while_another_process_could_go_unheard(
    postgres_server_url: str,
) -> None:
    """A bus's listener not started (a CLI command) or not connected (a database restart):
    every read goes to the database; the cache serves once the listener is connected."""
    from tests.conftest import _fresh_postgres

    db = Database(_fresh_postgres(postgres_server_url))
    db.upgrade()
    bus = PostgresBus(db)
    storage = Storage(db, bus)
    try:
        user = storage.users.create(username="svc@example.com")
        assert not storage.directory.trusted
        assert not bus.listening.is_set()  # no listener thread for a process that only writes
        reads: list[str] = []

        def read(user_id: str) -> object:
            reads.append(user_id)
            return storage.provider.subject(user_id)

        cache: GenerationCache[str, object] = GenerationCache(storage.directory)
        cache.get(user.id, read)
        cache.get(user.id, read)
        assert len(reads) == 2
        storage.directory.listen()
        assert bus.listening.wait(10) and storage.directory.trusted
        cache.get(user.id, read)
        cache.get(user.id, read)
        assert len(reads) == 3
        bus.listening.clear()  # as the listener does when its connection breaks
        cache.get(user.id, read)
        assert len(reads) == 4
    finally:
        bus.close()
        db.dispose()


def test_processes_on_one_sqlite_file_see_each_others_writes_at_once(sqlite_url: str) -> None:
    """No bus between SQLite processes (uvicorn's workers, a CLI command): the file beside
    the database carries the change. Two Storage objects stand for two processes: each has
    its own pool, watch and in-process bus; they share only the files."""
    first, second = Storage.open(sqlite_url), Storage.open(sqlite_url)
    try:
        assert type(first.changes) is LocalBus and type(second.changes) is LocalBus
        user = second.users.create(username="svc@example.com")
        seen = first.directory.generation
        second.users.set_active(user.id, False)
        assert first.directory.generation != seen
        seen = first.directory.generation
        second.users.get(user.id)
        second.provider.subject(user.id)
        assert first.directory.generation == seen
    finally:
        first.db.dispose()
        second.db.dispose()
