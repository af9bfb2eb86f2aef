"""Hot-path statements on the driver's cursor (storage/hot.py) store and read values exactly
as SQLAlchemy does, on every backend, inside the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Boolean, select
from sqlalchemy.exc import DBAPIError

from authbridge.storage import Storage
from authbridge.storage.hot import HotStatement
from authbridge.storage.models import UTCDateTime
from authbridge.storage.provider_models import OAuthRefreshToken
from authbridge.storage.provider_store import RefreshRow

_refresh = OAuthRefreshToken.__table__

ADD = HotStatement(
    "INSERT INTO oauth_refresh_tokens (token_hash, family_id, client_id, user_id, scope,"
    " auth_time, family_expires_at, idle_expires_at, used, revoked) VALUES (:h, 'f', 'c', :u,"
    " 'openid', 1, :at, :at, :no, :no)",
    binds={"at": UTCDateTime(), "no": Boolean()},
)
READ = HotStatement(
    "SELECT family_expires_at, used, scope FROM oauth_refresh_tokens WHERE token_hash = :h",
    columns=("family_expires_at", "used", "scope"),
    types={"family_expires_at": UTCDateTime(), "used": Boolean()},
)


def _user(storage: Storage) -> str:
    return storage.users.create(username="ada@example.com", roles=["viewer"]).id


def test_values_round_trip_as_sqlalchemy_stores_and_reads_them(storage: Storage) -> None:
    at = datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: the format must hold
    user_id = _user(storage)
    with storage.db.engine.begin() as conn:
        assert ADD.run(conn, {"h": "hot", "u": user_id, "at": at, "no": False}) == 1
    storage.provider.add_refresh(
        "orm",
        RefreshRow("f", "c", user_id, "openid", 1, family_expires_at=at, idle_expires_at=at),
    )
    with storage.db.engine.begin() as conn:
        # What SQLAlchemy reads of the row the hot statement wrote, and the other way round.
        by_orm = conn.execute(
            select(_refresh.c.family_expires_at, _refresh.c.used).where(
                _refresh.c.token_hash == "hot"
            )
        ).one()
        hot_row = READ.first(conn, {"h": "orm"})
        # A comparison in SQL sees both rows' times alike (stored in the same format).
        later = conn.execute(
            select(_refresh.c.token_hash).where(_refresh.c.family_expires_at >= at)
        ).all()
    assert by_orm.family_expires_at == at and by_orm.used is False
    assert hot_row.family_expires_at == at and hot_row.family_expires_at.tzinfo is not None
    assert hot_row.used is False and hot_row.scope == "openid"
    assert sorted(r.token_hash for r in later) == ["hot", "orm"]
    with storage.db.engine.begin() as conn:
        assert READ.first(conn, {"h": "missing"}) is None


def test_a_write_belongs_to_the_callers_transaction(storage: Storage) -> None:
    user_id = _user(storage)
    at = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(RuntimeError), storage.db.engine.begin() as conn:
        ADD.run(conn, {"h": "rolled-back", "u": user_id, "at": at, "no": False})
        raise RuntimeError("abort")
    with storage.db.engine.begin() as conn:
        assert READ.first(conn, {"h": "rolled-back"}) is None


def test_a_driver_error_is_sqlalchemys(storage: Storage) -> None:
    user_id = _user(storage)
    at = datetime.now(UTC)
    with storage.db.engine.begin() as conn:
        ADD.run(conn, {"h": "twice", "u": user_id, "at": at, "no": False})
    with pytest.raises(DBAPIError), storage.db.engine.begin() as conn:
        ADD.run(conn, {"h": "twice", "u": user_id, "at": at, "no": False})  # primary key


def test_numbered_placeholders_follow_the_names_and_keep_casts() -> None:
    """PostgreSQL's `$n` (one per distinct name, in order of first use), as psycopg's
    own conversion of the pyformat text numbers them; `::` casts are not parameters."""
    from psycopg._queries import PostgresQuery  # the library's conversion, for the check
    from psycopg.adapt import Transformer
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.psycopg.dialect()
    statement = HotStatement(
        "SELECT :b::text, :a, :b, CAST(:at AS timestamptz) WHERE x = :a",
        binds={"at": UTCDateTime()},
    )
    when = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    sql, values = statement.numbered(dialect, {"a": 1, "b": "two", "at": when})
    assert sql == b"SELECT $1::text, $2, $1, CAST($3 AS timestamptz) WHERE x = $2"
    assert values == ["two", 1, when]
    pyformat, named = statement.bound(dialect, {"a": 1, "b": "two", "at": when})
    theirs = PostgresQuery(Transformer())
    theirs.convert(pyformat, named)
    assert theirs.query == sql
