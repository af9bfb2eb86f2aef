"""SCIM filters (RFC 7644 §3.4.2.2) as SQLAlchemy expressions, so that the database filters
with its indexes and Python never scans.

Each resource type has a column map from attribute paths to columns. Attributes whose
schema says caseExact=false (RFC 7643 §2.2: userName, emails, displayName, ...) map to a
lower-cased copy that carries an index, and the compared value is lower-cased the same way.
Every comparison is null-safe (`col IS NOT NULL AND ...`) so that `not (...)` keeps the
RFC's meaning on unassigned attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement, and_, false, not_, or_, true
from sqlalchemy.sql.elements import KeyedColumnElement

from authbridge.scim.errors import InvalidFilter

__all__ = ["AttrKey", "Column", "ColumnMap", "FilterToSql", "attr_key", "casefold_key"]

Kind = Literal["string", "boolean", "datetime"]
AttrKey = tuple[str, str | None]


def casefold_key(value: str) -> str:
    """The normalisation of every case-insensitive key column (as `users.username_key`)."""
    return value.casefold()


@dataclass(frozen=True)
class Column:
    """Where one attribute lives: a column, how to compare, and (for members) a subquery."""

    column: Any
    kind: Kind = "string"
    case_exact: bool = True
    # A multi-valued attribute kept in another table: builds EXISTS(... condition ...).
    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]] | None = None


ColumnMap = Mapping[AttrKey, Column]


def attr_key(path: AttrPath, schemas: tuple[str, ...]) -> AttrKey:
    """Normalise a path to (attribute, sub-attribute), lower-cased (RFC 7643 §2.1: names are
    case-insensitive), with the extension URN folded into the attribute name."""
    attr = path.attr.lower()
    if path.uri and path.uri.lower() not in schemas[:1]:
        attr = f"{path.uri.lower()}:{attr}"
    return attr, path.sub_attr.lower() if path.sub_attr else None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FilterToSql(FilterVisitor[ColumnElement[bool]]):
    """Walks a filter tree and returns one boolean SQL expression."""

    def __init__(self, columns: ColumnMap, schemas: tuple[str, ...]) -> None:
        self.columns = columns
        self.schemas = tuple(s.lower() for s in schemas)
        self._prefix: str | None = None  # inside `attr[...]`: sub-filters name sub-attributes

    def _lookup(self, path: AttrPath) -> Column:
        attr, sub = attr_key(path, self.schemas)
        if self._prefix is not None:
            attr, sub = self._prefix, attr if sub is None else f"{attr}.{sub}"
        found = self.columns.get((attr, sub))
        if found is None and sub == "value":
            found = self.columns.get((attr, None))
        if found is None and sub is None:
            found = self.columns.get((attr, "value"))
        if found is None:
            raise InvalidFilter(f"filtering on {path} is not supported")
        return found

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        spec = self._lookup(node.attr_path)
        return self._wrap(spec, self._compare(spec, node.op, node.value))

    def _wrap(self, spec: Column, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # Inside a value path the EXISTS is built once around the whole sub-filter.
        if spec.exists is None or self._prefix is not None:
            return condition
        return spec.exists(condition)

    def _compare(self, spec: Column, op: CompareOperator, raw: Any) -> ColumnElement[bool]:
        col: KeyedColumnElement[Any] = spec.column
        if raw is None:
            # RFC 7644 §3.4.2.2 leaves `eq null` to the server: treat it as "not present".
            if op == CompareOperator.eq:
                return col.is_(None)
            if op == CompareOperator.ne:
                return col.is_not(None)
            raise InvalidFilter(f"{op.value} cannot compare with null")
        value = self._coerce(spec, raw)
        present = col.is_not(None)
        if op == CompareOperator.eq:
            return and_(present, col == value)
        if op == CompareOperator.ne:
            return or_(col.is_(None), col != value)
        if spec.kind == "boolean":
            raise InvalidFilter(f"{op.value} does not apply to a boolean")
        if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
            if spec.kind != "string":
                raise InvalidFilter(f"{op.value} applies to strings only")
            text = _escape_like(str(value))
            pattern = {"co": f"%{text}%", "sw": f"{text}%", "ew": f"%{text}"}[op.value]
            return and_(present, col.like(pattern, escape="\\"))
        comparisons = {
            CompareOperator.gt: col > value,
            CompareOperator.ge: col >= value,
            CompareOperator.lt: col < value,
            CompareOperator.le: col <= value,
        }
        return and_(present, comparisons[op])

    def _coerce(self, spec: Column, raw: Any) -> Any:
        if spec.kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"  # Entra's "True"/"False"
            raise InvalidFilter("a boolean attribute compares with true or false")
        if spec.kind == "datetime":
            if isinstance(raw, datetime):
                return raw
            try:
                return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                raise InvalidFilter(f"{raw!r} is not an xsd:dateTime") from None
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise InvalidFilter("a string attribute compares with a string")
        value = str(raw)
        return value if spec.case_exact else casefold_key(value)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        spec = self._lookup(node.attr_path)
        col = spec.column
        condition = col.is_not(None)
        if spec.kind == "string":
            condition = and_(condition, col != "")
        return self._wrap(spec, condition)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        if node.op == LogicalOperator.and_:
            return and_(true(), *terms)
        return or_(false(), *terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        # `emails[type eq "work" and value co "@x"]`: the sub-filter names sub-attributes of
        # one multi-valued attribute; they must all hold for the same value.
        attr, _ = attr_key(node.attr_path, self.schemas)
        if self._prefix is not None:
            raise InvalidFilter("value filters do not nest")
        self._prefix = attr
        try:
            inner = self.visit(node.val_filter)
        finally:
            self._prefix = None
        specs = [spec for (name, _sub), spec in self.columns.items() if name == attr]
        exists = next((s.exists for s in specs if s.exists is not None), None)
        return exists(inner) if exists is not None else inner
