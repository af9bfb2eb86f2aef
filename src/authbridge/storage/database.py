"""Engine, sessions and schema migrations for the SQLite and PostgreSQL backends.

Every wait on the database is bounded, so an outage or a silent network partition answers
503 within seconds instead of holding requests (and the worker threads behind them) for its
whole length: a pool checkout (`pool`), a new connection (`connect`, libpq's
connect_timeout), a statement on the server (`statement`, PostgreSQL's statement_timeout;
SQLite's busy timeout), and every round trip on the wire, which a partition that drops
packets without closing the connection would otherwise hold for ever: TCP keepalives and
tcp_user_timeout let the kernel notice a dead peer, and a client-side deadline on each wait
(`statement` plus a margin, so the server's own timeout normally answers first) covers a
peer that still acknowledges but never answers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from authbridge.storage.errors import Unavailable
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_io import await_on_loop, on_loop, refuse_on_loop
from authbridge.storage.migrations import HEADS

if TYPE_CHECKING:
    import psycopg  # imported with the PostgreSQL dialect, never on SQLite
    from alembic.config import Config as AlembicConfig

    from authbridge.storage.loop_batches import BatchedStatement, LoopBatches
    from authbridge.storage.loop_connections import LoopConnections
    from authbridge.storage.pg_connection import DeadlineConnection

__all__ = ["Database", "PoolStats", "Timeouts", "engine_url"]

# How much longer than the server's statement_timeout the client waits for an answer.
CLIENT_MARGIN = 1.0
# The PostgreSQL advisory lock key under which migrations run (any fixed bigint; this one is
# "authbrdg" in ASCII, so it names its owner in pg_locks).
MIGRATION_LOCK = 0x6175_7468_6272_6467

MIGRATIONS = Path(__file__).parent / "migrations"


def engine_url(url: str) -> str:
    """Pick the driver: psycopg 3 for PostgreSQL when the URL names none."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Timeouts:
    """Seconds any database wait may take (configured under `database:`)."""

    connect: float = 3.0
    statement: float = 5.0
    pool: float = 2.0

    def postgres_connect_args(self) -> dict[str, Any]:
        """libpq connection parameters (PostgreSQL docs, "Parameter Key Words")."""
        statement_ms = int(self.statement * 1000)
        return {
            "connect_timeout": max(1, round(self.connect)),  # libpq takes whole seconds
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            # Data unacknowledged this long ends the connection (a partition dropping packets).
            "tcp_user_timeout": statement_ms + int(CLIENT_MARGIN * 1000),
            "options": f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms} "
            f"-c idle_in_transaction_session_timeout={statement_ms * 6}",
        }


def _null(value: None) -> None:
    return value


def bind_none_as_null() -> None:
    """Let sqlite3 bind None without its adaptation lookup. On Python 3.11, sqlite3 binds a
    None parameter only after asking its adapters' registry, the `PrepareProtocol` type and
    the value itself how to adapt it; asking the type raises an AttributeError whose message
    is formatted and thrown away, about 2,000 instructions per NULL, a quarter of what an
    audit row cost to insert (bench/README.md "Stop 29"). A registered adapter for NoneType
    is found first and returns the None that is then bound as NULL, as before."""
    import sqlite3

    sqlite3.register_adapter(type(None), _null)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers go on while a writer commits; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return apply


@dataclass(frozen=True)
class PoolStats:
    """The connection pool now (exported as gauges by web/observability.py, which does not
    import SQLAlchemy): connections checked out, idle in the pool, threads waiting for one,
    and the most the pool opens (`pool_size` + overflow)."""

    in_use: int
    idle: int
    waiting: int
    capacity: int


class _WatchedPool(QueuePool):
    """SQLAlchemy's QueuePool counting the threads inside a checkout: QueuePool blocks them
    on its queue (up to `poolTimeout`) but keeps no count, and a queue of waiting requests
    is the first sign of a pool too small or a database too slow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    def _do_get(self) -> ConnectionPoolEntry:
        # Before the wait for a connection and before a new one is opened: the checkout
        # hook alone runs after both, so a missed `@offloadable` blocked the loop for the
        # pool wait (then raised as a pool timeout, a 503) or opened a connection on it.
        refuse_on_loop()
        with self._waiting_lock:
            self._waiting += 1
        try:
            return super()._do_get()
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    @property
    def waiting(self) -> int:
        return self._waiting


_FRESH = "authbridge_fresh"


def _mark_fresh(_dbapi_connection: Any, record: Any) -> None:
    """The pool's connect hook: marks a connection just opened (see `_discard_closed`)."""
    record.info[_FRESH] = True


def _discard_closed(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """The pool's checkout hook: a connection the server closed is replaced, as a failed
    pre-ping would have it (the pool opens a new one). A new connection found closed (a
    server killing sessions as they open: a failover, an administrator) is an outage
    (`Unavailable`, 503): a DisconnectionError there would exhaust the pool's attempts and
    end in SQLAlchemy's InvalidRequestError (a 500)."""
    from authbridge.storage.pg_connection import open_without_round_trip

    fresh = record.info.pop(_FRESH, False)
    if not open_without_round_trip(dbapi_connection):
        if fresh:
            raise Unavailable("the server closed a new connection as it opened")
        raise DisconnectionError("the server closed this pooled connection")


def _alembic_config() -> AlembicConfig:
    """Alembic's configuration for authbridge's migrations (imported only when Alembic runs:
    with Mako and Pygments it is about 7 MB a process keeps)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class Database:
    """One engine and session factory; `session()` is a unit of work that commits or rolls back."""

    def __init__(self, url: str, *, pool_size: int = 10, timeouts: Timeouts | None = None) -> None:
        self.url = engine_url(url)
        self.timeouts = timeouts = timeouts or Timeouts()
        # A pool checkout waits `pool` seconds at most: a full pool is an overload, answered
        # 503 with Retry-After, not a queue that grows behind a stuck database.
        options: dict[str, Any] = {
            "future": True,
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_timeout": timeouts.pool,
            "poolclass": _WatchedPool,
        }
        self._capacity = pool_size * 2  # pool_size + max_overflow
        sqlite = self.url.startswith("sqlite")
        if sqlite:
            options["connect_args"] = {"check_same_thread": False, "timeout": timeouts.statement}
            if ":memory:" in self.url or self.url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:"):
                # An in-memory database lives in one connection: no queue pool for it.
                options = {"future": True, "connect_args": options["connect_args"]}
        else:
            # Connections a PostgreSQL restart killed are found at checkout by their socket
            # (`_discard_closed`), not by pool_pre_ping's query: that costs a grant two round
            # trips. A SQLite file has no server to lose.
            options.update(connect_args=timeouts.postgres_connect_args())
        self.engine: Engine = create_engine(self.url, **options)
        self._engines = [self.engine]
        if sqlite:
            bind_none_as_null()
            event.listen(self.engine, "connect", _sqlite_pragmas(int(timeouts.statement * 1000)))
            # The same pool, each checkout in autocommit mode (set on the driver connection,
            # reset when it goes back to the pool).
            self._autocommit: Engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            # The token endpoint's one-statement reads and rotations get connections of
            # their own, in autocommit from the start: switching a shared connection into
            # autocommit at checkout and back at checkin cost psycopg four settings calls
            # through its wait loop, and SQLAlchemy a rollback-on-return, about a seventh of
            # the statement's CPU (bench/README.md "dedicated autocommit pool"). Half the
            # pool's size again, since only those statements use it.
            hot = max(1, pool_size // 2)
            self._autocommit = create_engine(
                self.url,
                **{**options, "pool_size": hot, "max_overflow": hot},
                isolation_level="AUTOCOMMIT",
                # Nothing to roll back on a connection that never opens a transaction.
                pool_reset_on_return=None,
            )
            self._capacity += hot * 2
            self._engines.append(self._autocommit)
            for engine in self._engines:
                event.listen(engine, "do_connect", self._connect_with_deadline)
                event.listen(engine, "connect", _mark_fresh)
                event.listen(engine, "checkout", _discard_closed)
        for engine in self._engines:
            # A grant on the event loop (storage/loop_io.py) never checks out a connection
            # of these pools: it would block the loop.
            event.listen(engine, "checkout", refuse_on_loop)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._pool_size = pool_size
        self._loop_connections: LoopConnections | None = None
        self._loop_batches: LoopBatches | None = None

    def _connect_with_deadline(
        self, _dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]
    ) -> psycopg.Connection[Any]:
        """SQLAlchemy's do_connect hook: the dialect's own connect, with a deadline class."""
        from authbridge.storage.pg_connection import DeadlineConnection

        connection = DeadlineConnection.connect(*cargs, **cparams)
        connection.deadline = self.timeouts.statement + CLIENT_MARGIN
        return connection

    @property
    def loop_connections(self) -> LoopConnections | None:
        """PostgreSQL: the event loop's connections for the hot statements of grants run on
        the loop (made on first use); None on SQLite, whose statements run in place."""
        if self.dialect != "postgresql":
            return None
        if self._loop_connections is None:
            from authbridge.storage.loop_connections import LoopConnections

            cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
            assert not cargs  # psycopg's dialect passes everything by keyword
            self._loop_connections = LoopConnections(
                {**cparams, **self.timeouts.postgres_connect_args()},
                self.engine.dialect,
                size=max(2, self._pool_size // 2),
                pool_wait=self.timeouts.pool,
                deadline=self.timeouts.statement + CLIENT_MARGIN,
            )
        return self._loop_connections

    def loop_batch_rows(
        self, batched: BatchedStatement, params: Mapping[str, Any]
    ) -> list[Any] | None:
        """This grant's rows of `batched`, run with the other grants' of this turn of the
        event loop in one statement (`storage/loop_batches.py`), when the caller is a grant
        on the loop; None otherwise (the caller runs its own statement in place)."""
        if not on_loop():
            return None
        connections = self.loop_connections
        if connections is None:
            return None
        if self._loop_batches is None:
            from authbridge.storage.loop_batches import LoopBatches

            self._loop_batches = LoopBatches(
                connections.rows,
                self.engine.dialect,
                parallel=connections.size,
                wait=self.timeouts.pool,
            )
        return await_on_loop(self._loop_batches.rows(batched, params))

    def loop_rows(self, statement: HotStatement, params: Mapping[str, Any]) -> list[Any] | None:
        """`statement`'s rows through the loop's connections when the caller is a grant on
        the event loop (`storage/loop_io.py`); None otherwise (the caller runs it in place)."""
        if not on_loop():
            return None
        connections = self.loop_connections
        if connections is None:
            return None
        return await_on_loop(connections.rows(statement, params))

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine with a pool of its own (PostgreSQL: transactions' and the
        autocommit statements')."""
        return tuple(self._engines)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection for statements that need no transaction of their own: a read, or a
        write atomic by itself. Each statement commits as it ends; on PostgreSQL that saves
        the BEGIN and COMMIT round trips a transaction costs (two of a grant's five). On
        PostgreSQL these connections are a pool of their own, always in autocommit."""
        with self._autocommit.connect() as conn:
            yield conn

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def without_timeouts(self) -> Iterator[Connection]:
        """A transaction free of the statement timeouts, for maintenance that may rightly
        run long (migrations, reindexing): requests keep their bounds, this one does not."""
        with self.engine.begin() as connection:
            raw = self._with_deadline(connection.connection.dbapi_connection)
            deadline = raw.deadline if raw is not None else None
            if raw is not None:
                raw.deadline = None
                connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
            try:
                yield connection
            finally:
                if raw is not None:
                    raw.deadline = deadline

    def _with_deadline(self, raw: object) -> DeadlineConnection | None:
        """`raw` if it is a PostgreSQL connection with a deadline (psycopg is imported with
        the PostgreSQL dialect only)."""
        if self.engine.dialect.name != "postgresql":
            return None
        from authbridge.storage.pg_connection import DeadlineConnection

        return raw if isinstance(raw, DeadlineConnection) else None

    @contextmanager
    def lease(self, name: str) -> Iterator[bool]:
        """Whether this process holds the lease `name` for the block: work that one replica
        at a time should do (housekeeping). Never waits: a replica that finds it taken
        skips its turn.

        PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a connection
        kept for the block, released at its end, or by the server when that connection
        dies, so a killed replica never keeps it. The transaction is ended at once: a
        session lock outlives it, and an idle-in-transaction connection would be cut by
        idle_in_transaction_session_timeout during a long round. SQLite: one file serves one
        machine, and its writes are serialized already; the lease is always granted.
        """
        if self.dialect != "postgresql":
            yield True
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as connection:
            held = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            connection.commit()
            try:
                yield held
            finally:
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()

    @contextmanager
    def exclusive(self, lock: int) -> Iterator[Connection]:
        """A transaction (free of the statement timeouts) holding the lock `lock` until it
        ends, so that processes doing the same check-then-write take turns: each sees what
        the one before it committed. PostgreSQL: a transaction-level advisory lock on the
        bigint `lock`; SQLite: BEGIN IMMEDIATE, the database's write lock (pysqlite opens no
        transaction before DDL or a SELECT, so it is taken up front)."""
        with self.without_timeouts() as connection:
            if self.dialect == "postgresql":
                # Released by the commit (or rollback) that ends the transaction.
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
            elif self.dialect == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection

    def upgrade(self, revision: str = "heads") -> None:
        """Apply Alembic migrations up to `revision` (idempotent), without the timeouts.

        "heads": each feature's migrations branch from the initial schema and are applied
        together, so independent features never fight over one linear history. A schema
        already at exactly those heads (`schema_is_current`, what nearly every start
        finds) is left alone without importing Alembic at all; anything else (a new
        database, an older schema, a revision this code does not know) goes to Alembic
        as before, which migrates it or says what is wrong.

        Replicas starting together on an empty database take turns: the whole upgrade is
        one transaction holding a lock (PostgreSQL: a transaction-level advisory lock;
        SQLite: BEGIN IMMEDIATE, the database's write lock), so the others wait for it,
        then read the committed `alembic_version` and find nothing left to do, instead of
        all creating `alembic_version` at once (UniqueViolation). The check before it only
        reads: an upgrade in progress is one uncommitted transaction, so a replica sees
        either the schema before it (and queues for the lock) or the whole of it.
        """
        if revision == "heads" and self.schema_is_current():
            return
        from alembic import command

        with self.exclusive(MIGRATION_LOCK) as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def schema_is_current(self) -> bool:
        """Whether `alembic_version` holds exactly this code's migration heads (`HEADS`):
        no more (a newer release's revisions), no fewer, no other. A database without
        the table (new, or not authbridge's) is not current."""
        with self.autocommit() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return False
            rows = connection.scalars(text("SELECT version_num FROM alembic_version")).all()
        return sorted(rows) == sorted(HEADS)

    def pending_revisions(self) -> tuple[str, ...]:
        """Migration heads not applied to this database yet (empty: the schema is current).

        Reads `alembic_version` only; it never migrates (`authbridge doctor` asks this).
        """
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(_alembic_config())
        with self.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        # A head is applied when it or a later revision of its branch is current.
        applied = {
            rev.revision
            for head in current
            for rev in script.iterate_revisions(head, "base")
            if rev is not None
        }
        return tuple(sorted(set(script.get_heads()) - applied))

    def pool_stats(self) -> PoolStats | None:
        """The pool's connections now; None for an in-memory SQLite database (one
        connection, no pool to watch)."""
        pools = [engine.pool for engine in self._engines]
        watched = [pool for pool in pools if isinstance(pool, _WatchedPool)]
        if not watched:
            return None
        return PoolStats(
            in_use=sum(pool.checkedout() for pool in watched),
            idle=sum(pool.checkedin() for pool in watched),
            waiting=sum(pool.waiting for pool in watched),
            capacity=self._capacity,
        )

    def trace(self, tracer_provider: Any) -> None:
        """An OpenTelemetry span for every statement on this engine (the SQLAlchemy
        instrumentation, applied here because only storage/ knows SQLAlchemy). Imported
        only when tracing is on. The instrumentation's per-engine tracer is used rather
        than `SQLAlchemyInstrumentor().instrument()`, which also patches `create_engine`
        process-wide and instruments only once per process."""
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__ as version
        from opentelemetry.metrics import NoOpMeterProvider

        tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", version)
        # The instrumentation wants a connection-usage counter; authbridge's pool gauges are
        # Prometheus ones (pool_stats), so the counter goes to a no-op meter.
        usage = (
            NoOpMeterProvider()
            .get_meter("authbridge.storage")
            .create_up_down_counter("db.client.connections.usage")
        )
        for engine in self._engines:
            EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()
        if self._loop_connections is not None:
            self._loop_connections.close()
