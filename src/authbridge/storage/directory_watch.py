"""Which writes change what a token says about its subject, seen by storage itself, and the
one cache that relies on it: service accounts' subjects for client_credentials grants.

The directory is the rows a grant reads about its subject (`provider_store.Q_SUBJECT`):
users, role bindings, teams, team members and SCIM groups. Those rows are written from many
places (the admin API, SCIM, the console, the CLI, sign-ins that sync IdP groups), so no
caller announces its writes: every statement a pooled connection runs passes this watch
(`before_cursor_execute`), one that writes a directory table marks its connection, and when
that connection goes back to the pool, after its COMMIT or ROLLBACK, the watch's
`generation` moves on. A cache entry remembers the generation it was read under and is
served only while the generation is the same, so in this process no finished write is ever
hidden by the cache. The generation is read before the row is: a write that commits while
the read runs also moves it, so what the read saw is never kept.

Other processes hear of a write through the change bus (`Topic.DIRECTORY`): on PostgreSQL
as a NOTIFY sent on the writing connection itself right after its commit (the pool is not
re-entered from its own check-in), over Redis when the deployment uses it (published from
a thread of the watch's own, so a Redis that stops answering never holds the writer). SQLite
has no bus between processes, so there the writer also puts 8 random bytes in a small file
beside the database (`<file>-directory`, memory-mapped by every process: uvicorn's workers,
a CLI command), which is part of the generation each process reads: a write by any
authbridge process on the same file is seen at once. A write no process announced (a psql
or sqlite3 session, a lost message) is bounded by the entry's lifetime,
`SUBJECT_CACHE_SECONDS`, the same bound as the client cache's (`provider/clients.py`).

Only an active subject is kept: a disabled or deleted service account is read every time,
so enabling it again takes effect at once everywhere.
"""

from __future__ import annotations

import mmap
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import event

from authbridge.storage.database import Database
from authbridge.storage.notify import (
    CHANNEL,
    ChangeBus,
    ListeningBus,
    LocalBus,
    PostgresBus,
    Topic,
)

__all__ = [
    "DIRECTORY_TABLES",
    "SUBJECT_CACHE_SECONDS",
    "DirectoryWatch",
    "GenerationCache",
    "writes_directory",
]

log = structlog.get_logger("authbridge")

# The tables `Q_SUBJECT` reads (provider_store.py); a test keeps the two in step.
DIRECTORY_TABLES = ("users", "role_bindings", "team_members", "teams", "scim_groups")
# How long another process's write can stay unseen when no message reaches this one.
SUBJECT_CACHE_SECONDS = 2.0

_TABLES = "|".join(DIRECTORY_TABLES)
# A name as SQL may spell it: bare or quoted ("", ``, []), schema-qualified (public.users,
# main."users"); the table's own name must end there (users_archive is another table).
_NAME = r"(?:(?:\w+|\"[^\"]*\"|`[^`]*`|\[[^\]]*\])\s*\.\s*)*[\"`\[]?(?:" + _TABLES + r")\b"
# SQLite's conflict clause (INSERT OR REPLACE, UPDATE OR IGNORE, ...).
_OR = r"(?:\s+or\s+(?:rollback|abort|replace|fail|ignore))?"
_WRITE = re.compile(
    r"\b(?:insert" + _OR + r"\s+into|replace\s+into|update" + _OR + r"|delete\s+from"
    r"|merge\s+into|copy|(?:alter|drop)\s+table(?:\s+if\s+exists)?)"
    r"(?:\s+only)?(?:\s+|(?=[\"`\[]))" + _NAME + r"(?!\s+to\b)"
    # TRUNCATE names a list of tables (and CASCADE follows foreign keys, which end in
    # directory tables only when they start there: tests/security/test_redteam_subject_cache).
    r"|\btruncate\b[^;]*?(?:^|[\s,.\"`\[])(?:" + _TABLES + r")\b",
)
_VERBS = ("insert", "replace", "update", "delete", "merge", "copy", "alter", "drop", "truncate")
# Comments may sit between the keywords (`DELETE /* by hand */ FROM users`).
_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)
_MARK = "authbridge.directory_written"
_MEMO_LIMIT = 4096
SHARED_SUFFIX = "-directory"
_NOTHING_SHARED = b""
# Longer texts are judged each time (tens of microseconds): bulk INSERTs and IN lists render
# one text per row count, tens of kilobytes each, which a memo of 4096 would keep alive.
_MEMO_LENGTH = 1024


def writes_directory(statement: str) -> bool:
    """Whether a SQL statement may write a directory table (a false positive only costs a
    cache miss; a false negative would hide a write, so the match is broad: any INSERT,
    UPDATE, DELETE, TRUNCATE, MERGE, REPLACE, COPY ... FROM, ALTER or DROP TABLE naming
    one, however quoted or schema-qualified, comments between the words, CTEs, upserts
    and SQLite's conflict clauses included)."""
    if "/*" in statement or "--" in statement:
        statement = _COMMENT.sub(" ", statement)
    text = statement.lower()
    # The pattern tried where a verb starts only: searching it over a long text (a bulk
    # INSERT, an IN list of a thousand) took a millisecond; finding the verbs, microseconds.
    for verb in _VERBS:
        at = text.find(verb)
        while at != -1:
            if _WRITE.match(text, at) is not None:
                return True
            at = text.find(verb, at + 1)
    return False


def _shared_map(db: Database) -> mmap.mmap | None:
    """The SQLite file's shared generation (8 bytes beside it), mapped; None elsewhere."""
    path = db.engine.url.database if db.dialect == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        fd = os.open(path + SHARED_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_size < 8:
            os.ftruncate(fd, 8)
        return mmap.mmap(fd, 8)
    except OSError:
        return None
    finally:
        os.close(fd)  # the mapping keeps the file


class DirectoryWatch:
    """The generation of the directory as this process knows it (see the module's text)."""

    def __init__(self, db: Database, changes: ChangeBus) -> None:
        self._local = 0
        self._shared = _shared_map(db)
        self._lock = threading.Lock()
        self._memo: dict[str, bool] = {}
        self._changes = changes
        # A bus that reaches other processes: PostgreSQL's is told on the writing
        # connection (its own publish would check a connection out of the pool while the
        # pool checks one in); any other remote bus through its publish.
        self._message = (
            changes.encode(Topic.DIRECTORY, "") if isinstance(changes, PostgresBus) else None
        )
        self._remote = type(changes) is not LocalBus
        # Messages the pool's check-in could not send itself go out on a thread of their
        # own (`_publish_later`): a bus that stops answering (Redis in a partition, up to
        # twice its 5 s timeout) must not hold the writer and its connection meanwhile.
        self._pending = threading.Event()
        self._publisher: threading.Thread | None = None
        for engine in db.engines:
            event.listen(engine, "before_cursor_execute", self._statement)
            event.listen(engine.pool, "checkin", self._returned)
        # A bus whose messages from other processes come over a connection: entries are
        # trusted only while it is connected (`listen()`, a serving process only: a CLI
        # command starts no listener).
        self._listening: threading.Event | None = None
        if isinstance(changes, ListeningBus):
            self._listening = threading.Event()  # never set until `listen()`

    def listen(self) -> None:
        """Hear the other processes' writes (the app's wiring calls it once at start-up);
        until then, and while the bus is disconnected, nothing is served from a cache."""
        self._changes.subscribe(Topic.DIRECTORY, self._heard)
        if isinstance(self._changes, ListeningBus):
            self._listening = self._changes.listening

    @property
    def trusted(self) -> bool:
        """Whether a cached entry may be served: no other process's write can go unheard
        (SQLite's file; a bus's listener connected), but for the entries' lifetime."""
        listening = self._listening
        return listening is None or listening.is_set()

    @property
    def generation(self) -> tuple[int, bytes]:
        """Equal to an earlier value only if no write has been seen since."""
        shared = self._shared
        return self._local, shared[:8] if shared is not None else _NOTHING_SHARED

    def advance(self) -> None:
        """The directory changed: every entry read before now is stale."""
        with self._lock:
            self._local += 1

    def _tell_processes_here(self) -> None:
        # Random bytes rather than a count: two processes writing at once can lose an
        # increment, never a change of the value.
        shared = self._shared
        if shared is not None:
            shared[:8] = os.urandom(8)

    # -- events ------------------------------------------------------------------------

    def _statement(
        self, conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        written = self._memo.get(statement)
        if written is None:
            written = writes_directory(statement)
            if len(statement) <= _MEMO_LENGTH:
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[statement] = written
        if written:
            conn.info[_MARK] = True

    def settle(self, info: dict[Any, Any]) -> None:
        """A transaction ended on a connection kept out of the pool (the provider's shared
        SQLite connection): its directory writes count now, as a check-in would count them."""
        if info.pop(_MARK, False):
            self._written(None)

    def _returned(self, dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_MARK, False):
            self._written(dbapi_connection)

    def _written(self, dbapi_connection: Any) -> None:
        """A directory write ended: this process, the processes on this SQLite file, then
        the other replicas (a NOTIFY on the writing connection, or else the bus's publish
        off this thread: another bus, or a connection invalidated or failing)."""
        self.advance()
        self._tell_processes_here()
        if self._remote and not self._notify(dbapi_connection):
            self._publish_later()

    def _notify(self, dbapi_connection: Any) -> bool:
        """NOTIFY the other replicas on the connection that wrote, after its commit
        (whether it was sent: only on PostgreSQL)."""
        if self._message is None or dbapi_connection is None:
            return False
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self._message))
            finally:
                cursor.close()
            if not dbapi_connection.autocommit:
                dbapi_connection.commit()
        except Exception as exc:  # published by the bus instead (`_publish_later`)
            log.warning("change_publish_failed", topic=Topic.DIRECTORY, error=type(exc).__name__)
            return False
        return True

    def _publish_later(self) -> None:
        """Publish `Topic.DIRECTORY` from the publisher thread (started when needed; writes
        while it publishes make one more message, not one each)."""
        self._pending.set()
        with self._lock:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_pending, name="authbridge-directory", daemon=True
                )
                self._publisher.start()

    def _publish_pending(self) -> None:
        while True:
            if not self._pending.wait(30.0):
                with self._lock:  # idle: the thread ends (the next write starts another)
                    if not self._pending.is_set():
                        self._publisher = None
                        return
                continue
            self._pending.clear()
            try:  # the entries' lifetime bounds what the other replicas miss
                self._changes.publish(Topic.DIRECTORY)
            except Exception as exc:
                log.warning(
                    "change_publish_failed", topic=Topic.DIRECTORY, error=type(exc).__name__
                )

    def _heard(self, _payload: str) -> None:
        self.advance()


K = TypeVar("K")
V = TypeVar("V")


class GenerationCache(Generic[K, V]):
    """Values read under one generation of a `DirectoryWatch`, each for at most `seconds`
    (`keep` decides which values are worth keeping)."""

    def __init__(
        self,
        watch: DirectoryWatch,
        *,
        seconds: float = SUBJECT_CACHE_SECONDS,
        keep: Callable[[V], bool] = lambda _value: True,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._watch = watch
        self._seconds = seconds
        self._keep = keep
        self._size = size
        self._clock = clock
        self._entries: dict[K, tuple[tuple[int, bytes], float, V]] = {}

    def get(self, key: K, read: Callable[[K], V]) -> V:
        """The cached value of `key`, or `read(key)` (kept if `keep` says so)."""
        if not self._watch.trusted:
            return read(key)
        generation = self._watch.generation
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] == generation and entry[1] > now:
            return entry[2]
        value = read(key)
        if self._keep(value):
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[key] = (generation, now + self._seconds, value)
        else:
            self._entries.pop(key, None)
        return value
