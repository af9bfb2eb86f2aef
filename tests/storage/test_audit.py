"""The audit_events store on SQLite and PostgreSQL: many rows in one append, newest-first
keyset pages that never skip or repeat a row, filters, and retention by housekeeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from authbridge.storage import Storage
from authbridge.storage.audit import AuditFilter, AuditRecord
from authbridge.storage.expiry import collect

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _event(n: int, type: str = "user.updated", **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "at": NOW - timedelta(minutes=n),
        "type": type,
        "outcome": "success",
        "actor_kind": "user",
        "actor_id": "admin-1",
        "target_type": "user",
        "target_id": f"u{n}",
        "details": {"n": n},
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


def test_append_and_query_newest_first_with_every_field(storage: Storage) -> None:
    storage.audit.append(
        [
            _event(2),
            _event(1, address="203.0.113.7", user_agent="curl/8", request_id="r1"),
            _event(3),
        ]
    )
    found = storage.audit.query(AuditFilter(), limit=10)
    assert [r.target_id for r in found] == ["u1", "u2", "u3"]
    first = found[0]
    assert first.id is not None and first.at == NOW - timedelta(minutes=1)
    assert (first.address, first.user_agent, first.request_id) == ("203.0.113.7", "curl/8", "r1")
    assert first.details == {"n": 1}


def test_keyset_pages_neither_skip_nor_repeat_equal_times(storage: Storage) -> None:
    # Same instant for all: the id breaks the tie.
    storage.audit.append([_event(0, target_id=f"t{i}") for i in range(7)])
    seen: list[str | None] = []
    after = None
    while True:
        page = storage.audit.query(AuditFilter(), limit=3, after=after)
        seen += [r.target_id for r in page]
        if len(page) < 3:
            break
        last = page[-1]
        assert last.id is not None
        after = (last.at, last.id)
    assert sorted(seen, key=str) == [f"t{i}" for i in range(7)] and len(set(seen)) == 7


def test_filters_by_actor_target_type_prefix_and_time(storage: Storage) -> None:
    storage.audit.append(
        [
            _event(1, "user.disabled"),
            _event(2, "user.enabled", actor_id="someone-else"),
            _event(3, "team.created", target_type="team", target_id="t1"),
            _event(4, "user_x.made_up"),  # a "user_" type is not under the prefix "user."
            _event(50, "user.deleted"),
        ]
    )

    def types(**where: object) -> list[str]:
        return [r.type for r in storage.audit.query(AuditFilter(**where), limit=50)]  # type: ignore[arg-type]

    assert types(actor="someone-else") == ["user.enabled"]
    assert types(target_type="team", target_id="t1") == ["team.created"]
    assert types(type="user.disabled") == ["user.disabled"]
    assert types(type="user.") == ["user.disabled", "user.enabled", "user.deleted"]
    assert types(type="user%") == []  # a LIKE wildcard is a literal character here
    since, until = NOW - timedelta(minutes=3), NOW - timedelta(minutes=1)
    assert types(since=since, until=until) == ["user.enabled", "team.created"]


def test_long_values_are_cut_never_refused(storage: Storage) -> None:
    storage.audit.append([_event(1, user_agent="x" * 5000, actor_name="n" * 1000)])
    (row,) = storage.audit.query(AuditFilter(), limit=1)
    assert row.user_agent == "x" * 512 and row.actor_name == "n" * 255


def test_retention_is_enforced_by_housekeeping(storage: Storage) -> None:
    storage.audit.retention = timedelta(days=30)
    old = [_event(0, at=NOW - timedelta(days=31, minutes=i)) for i in range(5)]
    storage.audit.append([*old, _event(0, at=NOW - timedelta(days=29))])
    assert "audit" in storage.expiring()
    assert collect(storage.expiring()["audit"], NOW, batch=2) == 5
    assert [r.at for r in storage.audit.query(AuditFilter(), limit=10)] == [
        NOW - timedelta(days=29)
    ]


def test_the_migration_moves_the_scim_trail_into_the_audit_log(database_url: str) -> None:
    from sqlalchemy import inspect, text

    from authbridge.storage.database import Database

    db = Database(database_url)
    try:
        db.upgrade("0002_scim")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO scim_audit (at, source, actor, action, resource_type, "
                    "resource_id, before, after) VALUES (:at, 'okta', 'okta:bot', :action, "
                    ":rtype, :rid, NULL, :after)"
                ),
                [
                    {
                        "at": NOW,
                        "action": "create",
                        "rtype": "User",
                        "rid": "u1",
                        "after": '{"userName": "ada"}',
                    },
                    {
                        "at": NOW + timedelta(seconds=1),
                        "action": "login_refused",
                        "rtype": "User",
                        "rid": "u1",
                        "after": '{"connector": "okta", "subject": "s1", "reason": "deactivated"}',
                    },
                ],
            )
        db.upgrade()
        assert "scim_audit" not in inspect(db.engine).get_table_names()
        found = Storage(db).audit.query(AuditFilter(target_id="u1"), limit=10)
        assert [(r.type, r.outcome, r.actor_kind) for r in found] == [
            ("signin.refused", "failure", "anonymous"),
            ("scim.user.created", "success", "scim"),
        ]
        assert found[1].actor_id == "okta" and found[1].actor_name == "okta:bot"
        assert found[1].details["after"] == {"userName": "ada"}
        assert found[0].details["connector"] == "okta" and found[0].actor_name == "s1"
    finally:
        db.dispose()


def test_an_sqlite_batch_queues_behind_the_token_endpoints_writer(sqlite_url: str) -> None:
    """On SQLite the audit writer takes the writers' lock (storage/sqlite_writer.py) that a
    refresh rotation holds, instead of meeting it in SQLite's sleeping busy handler."""
    import threading

    from authbridge.storage.sqlite_writer import WriterLock

    storage = Storage.open(sqlite_url)
    try:
        done = threading.Event()

        def append() -> None:
            storage.audit.append([_event(1)])
            done.set()

        with WriterLock(storage.db).held():  # another store's descriptor, as the grants'
            writer = threading.Thread(target=append)
            writer.start()
            assert not done.wait(0.3)
        assert done.wait(10)
        writer.join(10)
        assert len(storage.audit.query(AuditFilter(), limit=10)) == 1
    finally:
        storage.db.dispose()


def test_details_and_times_are_stored_as_given(storage: Storage) -> None:
    """Details as JSON whatever their shape (the same details twice, and keys equal in
    Python but written apart, which stay apart), times in UTC whatever zone they came in,
    with no details an empty object."""
    paris = timezone(timedelta(hours=1))
    shapes: list[dict[object, object]] = [
        {"grantType": "client_credentials"},
        {"grantType": "client_credentials"},  # again
        {"grantType": "refresh_token", "error": "invalid_grant"},
        {1: "one"},
        {True: "one"},
        {"n": 1, "nested": {"a": [1, None]}},
        {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"},
    ]
    records = [
        _event(n, details=details, at=NOW.astimezone(paris) - timedelta(minutes=n))
        for n, details in enumerate(shapes)
    ]
    records.append(
        AuditRecord(
            at=NOW - timedelta(minutes=9),
            type="t",
            outcome="success",
            actor_kind="system",
            target_id="bare",
        )
    )
    storage.audit.append(records)
    found = {r.target_id: r for r in storage.audit.query(AuditFilter(), limit=20)}
    expected = json.loads(json.dumps(shapes))
    for n, details in enumerate(expected):
        assert found[f"u{n}"].details == details
        assert found[f"u{n}"].at == NOW - timedelta(minutes=n)
    assert found["bare"].details == {}


def test_a_writers_batch_is_stored_whole_as_each_driver_runs_it_best(storage: Storage) -> None:
    """A batch of 200 (the writer's largest): on SQLite three INSERTs of many rows each,
    never sqlite3's executemany (row by row, the GIL let go and taken back for each); on
    PostgreSQL psycopg's executemany (one pipeline; bench/README "Stop 28"). Every row
    lands with its own values, across the statements' seams."""
    from sqlalchemy import event

    statements: list[tuple[str, bool]] = []

    def seen(_conn: object, _cursor: object, sql: str, _p: object, _c: object, many: bool) -> None:
        if sql.startswith("INSERT INTO audit_events"):
            statements.append((sql, many))

    engine = storage.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        storage.audit.append([_event(n, request_id=f"r{n}") for n in range(200)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    expected = [False] * 3 if storage.db.dialect == "sqlite" else [True]
    assert [many for _sql, many in statements] == expected
    found = storage.audit.query(AuditFilter(), limit=500)
    assert len(found) == 200
    for record in found:
        n = int(record.target_id.removeprefix("u"))  # type: ignore[union-attr]
        assert (record.request_id, record.details, record.at) == (
            f"r{n}",
            {"n": n},
            NOW - timedelta(minutes=n),
        )


@pytest.mark.parametrize("json_each", [True, False], ids=["json_each", "no-json-functions"])
def test_rows_alike_but_for_their_time_are_stored_each_with_its_own_time(
    storage: Storage, json_each: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`append(records, alike)`: a record and 70 times are 70 rows, each the record with
    one of the times, beside the other records of the batch; long values are cut as any
    row's are; the details come back as given. On SQLite the 70 times are one JSON array
    of one statement (or, where SQLite lacks its JSON functions, rows as any others); on
    PostgreSQL one array of one statement."""
    from sqlalchemy import event

    from authbridge.storage import audit

    if not json_each:  # nothing changes on PostgreSQL, which runs it as the other
        monkeypatch.setattr(audit, "_sqlite_has_json_each", lambda: False)
    grant = _event(
        0,
        type="token.issued",
        actor_kind="client",
        actor_id="c" * 300,
        target_type="client",
        target_id="sa-etl",
        details={"grantType": "client_credentials"},
    )
    # Out of order, crossing seconds, two in one second of different days.
    times = [NOW - timedelta(seconds=n // 3, microseconds=n) for n in range(68)]
    times += [NOW + timedelta(days=31), NOW + timedelta(days=31, microseconds=-1)]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, sql: str, _p: object, _c: object, _m: bool) -> None:
        if "audit_events" in sql:
            statements.append(sql)

    engine = storage.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        storage.audit.append([_event(1), _event(2)], [(grant, times)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    found = storage.audit.query(AuditFilter(type="token.issued"), limit=100)
    assert sorted(r.at for r in found) == sorted(times)
    for row in found:
        assert (row.actor_id, row.target_id, row.details) == (
            "c" * 255,
            "sa-etl",
            {"grantType": "client_credentials"},
        )
    others = storage.audit.query(AuditFilter(type="user.updated"), limit=9)
    assert {r.target_id for r in others} == {"u1", "u2"}
    if storage.db.dialect == "sqlite" and json_each:
        assert ["json_each(" in s for s in statements] == [True, False]
    elif storage.db.dialect == "sqlite":  # 72 rows of 13 values: one statement
        assert len(statements) == 1 and statements[0].count("(?, ?") == 72
    else:  # the 70 times as one array, the two other records in one executemany
        assert [("unnest(" in s) for s in statements] == [True, False]


def test_the_time_text_on_sqlite_is_the_one_sqlalchemy_writes() -> None:
    """The audit writer writes `at` on SQLite itself (`_sqlite_times`, a second's text
    made once per run of times in it): differentially, the text SQLAlchemy's DATETIME
    writes for the UTC time `UTCDateTime` binds, for times in many zones, both sides of
    the epoch, whole seconds and the same second twice; one by one and in one go."""
    import random

    from sqlalchemy.dialects import sqlite

    from authbridge.storage.audit import _sqlite_time, _sqlite_times
    from authbridge.storage.models import UTCDateTime

    dialect = sqlite.dialect()
    write = sqlite.DATETIME().bind_processor(dialect)
    assert write is not None
    chance = random.Random(29)
    times = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    for _ in range(5_000):
        at = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=chance.randrange(250 * 365 * 86_400 * 10**6)
        )
        if chance.random() < 0.1:
            at = at.replace(microsecond=0)
        zone = timezone(timedelta(minutes=chance.randrange(-12 * 60, 14 * 60)))
        times += [at, at.astimezone(zone), at + timedelta(microseconds=1)]
    expected = [write(UTCDateTime().process_bind_param(at, dialect)) for at in times]
    for at, text in zip(times, expected, strict=True):
        assert _sqlite_time(at) == text, at
    # In one go, as the writer formats a batch: runs of one second, and a time of the same
    # second, minute, hour and day in another month or year right after.
    assert _sqlite_times(times) == expected
    same_fields = [
        datetime(2026, 1, 5, 10, 0, 7, 1, tzinfo=UTC),
        datetime(2026, 2, 5, 10, 0, 7, 2, tzinfo=UTC),
        datetime(2027, 2, 5, 10, 0, 7, 3, tzinfo=UTC),
        datetime(2027, 2, 5, 10, 0, 7, 4, tzinfo=UTC).astimezone(timezone(timedelta(hours=5))),
    ]
    assert _sqlite_times(same_fields) == [
        write(UTCDateTime().process_bind_param(at, dialect)) for at in same_fields
    ]
