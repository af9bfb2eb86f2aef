"""SQL that means the same on SQLite and PostgreSQL, for SCIM's string operators
(RFC 7644 §3.4.2.2 `co`, `sw`, `ew`) and for one planner hint.

SQLite's LIKE ignores ASCII case and PostgreSQL's does not, so `co` and `ew` are written with
`instr`/`strpos` and `substr`; `sw` on a column in code-point order is an index range.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, any_, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

__all__ = ["contains", "ends_with", "one_of", "prefix_range", "unselective"]

_MAX_CHAR = 0x10FFFF


def one_of(column: Any, values: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(:values)`, one array parameter, so the
    statement's text does not grow with the list and SQLAlchemy and psycopg each prepare it
    once (a 5,000-item IN list was re-rendered and re-parsed on every call)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


class _Position(FunctionElement[int]):
    """The 1-based position of a substring, 0 if absent: `instr` (SQLite), `strpos` (PG)."""

    type = Integer()
    inherit_cache = True
    name = "position"


@compiles(_Position)
def _instr(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _strpos(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


class _Unselective(FunctionElement[Any]):
    """A condition most rows satisfy: `likelihood(x, 0.9)` on SQLite, `(x)` elsewhere.

    Untyped, so SQLite gets the call itself and not `likelihood(...) = 1`."""

    type = NullType()
    inherit_cache = True
    name = "unselective"


@compiles(_Unselective)
def _as_is(element: _Unselective, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)})"


@compiles(_Unselective, "sqlite")
def _likelihood(element: _Unselective, compiler: SQLCompiler, **kw: Any) -> str:
    return f"likelihood({compiler.process(element.clauses, **kw)}, 0.9)"


def unselective(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Tell SQLite's planner, which has no statistics, that `condition` keeps most rows.

    `scim_users.source = ?` holds for nearly every user (one or two sources), but SQLite
    rates any indexed equality as selective and would walk the whole source's index, testing
    each user against a value-index lookup, instead of starting from that lookup. Wrapped,
    the term can still use an index (`(source, external_id)`); PostgreSQL gets it as is."""
    result: ColumnElement[bool] = _Unselective(condition)
    return result


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """`co`, case-sensitive on every backend (SQLite's LIKE ignores ASCII case)."""
    return _Position(column, text) > 0


def ends_with(column: Any, text: str) -> ColumnElement[bool]:
    """`ew`: the last len(text) characters (shorter values never equal `text`)."""
    result: ColumnElement[bool] = func.substr(column, func.length(column) - len(text) + 1) == text
    return result


def _successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix`, if there is one."""
    trimmed = prefix.rstrip(chr(_MAX_CHAR))
    if not trimmed:
        return None
    last = ord(trimmed[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are not characters of a UTF-8 string
        last = 0xE000
    return trimmed[:-1] + chr(last)


def prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    """`sw` as an index range: prefix <= column < successor(prefix), in code-point order."""
    upper = _successor(prefix)
    if upper is None:
        return and_(column.is_not(None), column >= prefix)
    return and_(column >= prefix, column < upper)
