"""Constant statements of the token endpoint's hot path, run on the driver's cursor.

SQLAlchemy's per-execution work (compiled-cache lookup, execution context, result metadata,
row objects) cost several times the SQLite statement itself and about a fifth of a grant's
CPU (bench/bench_token.py). A `HotStatement` keeps what SQLAlchemy contributes that
matters, worked out once per dialect: the driver's parameter style and the column types'
bind and result processors (so times and booleans are stored and read exactly as the ORM
does). It runs inside the caller's SQLAlchemy transaction, on the same DBAPI connection, so
transactions and pooling are unchanged; a constant SQL text is what psycopg prepares on the
server after a few executions. Driver errors are raised as SQLAlchemy's, a lost connection
invalidated, as `Connection.execute` does.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.types import TypeEngine

__all__ = ["HotStatement"]

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Prepared:
    sql: str
    binds: tuple[tuple[str, Processor], ...]
    results: tuple[Processor | None, ...]
    row: Any  # the namedtuple class of a row


class HotStatement:
    """One constant SQL statement with `:name` parameters; `binds` and `columns` give the
    types of the parameters and result columns that need converting (the rest pass as is).
    `columns` names the result's columns in order (rows are named tuples)."""

    def __init__(
        self,
        sql: str,
        *,
        binds: Mapping[str, TypeEngine[Any]] | None = None,
        columns: Sequence[str] = (),
        types: Mapping[str, TypeEngine[Any]] | None = None,
    ) -> None:
        if "%" in sql:
            raise ValueError("a literal % would need escaping for the pyformat drivers")
        self.sql = sql
        self._binds = dict(binds or {})
        self._columns = tuple(columns)
        self._types = dict(types or {})
        self._prepared: dict[str, _Prepared] = {}
        self._numbered: tuple[bytes, tuple[str, ...]] | None = None

    def _prepare(self, dialect: Dialect) -> _Prepared:
        prepared = self._prepared.get(dialect.name)
        if prepared is not None:
            return prepared
        style = dialect.paramstyle
        if style in ("named", "qmark", "numeric"):
            sql = self.sql  # sqlite3 takes `:name` with a mapping whatever its default style
            if dialect.name != "sqlite":
                raise NotImplementedError(f"paramstyle {style} of {dialect.name}")
        elif style == "pyformat":
            sql = _PARAM.sub(r"%(\1)s", self.sql)
        else:
            raise NotImplementedError(f"paramstyle {style}")
        binds = tuple(
            (name, processor)
            for name, type_ in self._binds.items()
            if (processor := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        results = tuple(
            self._types[name].dialect_impl(dialect).result_processor(dialect, None)
            if name in self._types
            else None
            for name in self._columns
        )
        row = namedtuple("Row", self._columns) if self._columns else tuple
        prepared = self._prepared[dialect.name] = _Prepared(sql, binds, results, row)
        return prepared

    def bound(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The driver's SQL text and parameter values, converted by the parameter types."""
        return self._prepare(dialect).sql, self._converted_params(dialect, params)

    def _converted_params(self, dialect: Dialect, params: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(params)
        for name, processor in self._prepare(dialect).binds:
            if name in values:
                values[name] = processor(values[name])
        return values

    def numbered(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[bytes, list[Any]]:
        """The SQL text with `$1`, `$2`... (PostgreSQL's own placeholders, one per distinct
        name, in order of first use) and the values in that order, converted by the
        parameter types: what a server-side prepared statement takes (PostgreSQL only)."""
        numbered = self._numbered
        if numbered is None:
            first_use: list[str] = []

            def number(match: re.Match[str]) -> str:
                if match.group(1) not in first_use:
                    first_use.append(match.group(1))
                return f"${first_use.index(match.group(1)) + 1}"

            text = _PARAM.sub(number, self.sql).encode()
            numbered = self._numbered = (text, tuple(first_use))
        sql, names = numbered
        values = self._converted_params(dialect, params)
        return sql, [values[name] for name in names]

    def driver_error(self, dialect: Dialect, exc: Exception, *, lost: bool) -> StatementError:
        """A driver's error as SQLAlchemy raises it (`Connection.execute`), so callers and
        the error handlers meet the same classes whichever path ran the statement."""
        return DBAPIError.instance(
            self.sql,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        )

    def _execute(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Prepared, Any]:
        dialect = conn.dialect
        sql, values = self.bound(dialect, params)
        fairy = conn.connection
        cursor = fairy.cursor()
        try:
            cursor.execute(sql, values)
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
            cursor.close()
            if lost:
                conn.invalidate(exc)
            raise self.driver_error(dialect, exc, lost=lost) from exc
        return self._prepare(dialect), cursor

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row of the result, converted by the column types, as named tuples."""
        _prepared, cursor = self._execute(conn, params)
        try:
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        return self.converted(conn.dialect, fetched)

    def converted(self, dialect: Dialect, fetched: list[Any]) -> list[Any]:
        """The driver's rows converted by the column types, as named tuples."""
        prepared = self._prepare(dialect)
        results = prepared.results
        make = prepared.row
        if not any(results):
            return [make(*row) for row in fetched] if self._columns else fetched
        return [
            make(
                *(
                    value if processor is None else processor(value)
                    for value, processor in zip(row, results, strict=True)
                )
            )
            for row in fetched
        ]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """A write: the number of rows it matched."""
        _prepared, cursor = self._execute(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()
