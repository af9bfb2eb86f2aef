"""SCIM filters (RFC 7644 §3.4.2.2) as SQLAlchemy expressions, so that the database filters
with its indexes and Python never scans.

A path is resolved against the resource type's schema (scim2-models), so an attribute the
schema does not declare is `UnsupportedFilter` (the service answers `invalidFilter`, §3.12).
The filter arrives parsed (`authbridge.scim.filters`); the attribute then lives in one of two
places:

- a column (`columns.py`): userName, externalId, membership, ... Attributes whose schema
  says caseExact=false (RFC 7643 §2.2) map to a lower-cased copy that carries an index, and the
  compared value is lower-cased the same way. Every comparison is null-safe
  (`col IS NOT NULL AND ...`) so that `not (...)` keeps the RFC's meaning on unassigned
  attributes;
- otherwise the value index (`storage/scim/values.py`, translated by `value_sql.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy.sql.elements import KeyedColumnElement

from authbridge.storage.scim.errors import UnsupportedFilter
from authbridge.storage.scim.portable_sql import contains, ends_with
from authbridge.storage.scim.value_sql import ValueFilters, ValueTable
from authbridge.storage.scim.values import Attribute, casefold_key, resolve

__all__ = ["Column", "ColumnMap", "FilterToSql", "casefold_key", "resolve_path"]

Kind = Literal["string", "boolean", "datetime"]


@dataclass(frozen=True)
class Column:
    """Where one attribute lives: a column, how to compare, and (for members) a subquery.

    `column=None` is an attribute the service never holds (`password`, `members.display`):
    it is unassigned on every resource."""

    column: Any
    kind: Kind = "string"
    case_exact: bool = True
    # A multi-valued attribute kept in another table: builds EXISTS(... condition ...).
    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]] | None = None


ColumnMap = Mapping[str, Column]  # by attribute name, as `values.resolve` names it


def resolve_path(model: Any, path: AttrPath, *, comparison: bool) -> Attribute:
    """The attribute a filter path names; `UnsupportedFilter` if the schema has none (§3.12).

    A comparison with a multi-valued complex attribute compares its `value` (RFC 7644
    §3.4.2.2 writes `emails co "example.com"`)."""
    attribute = resolve(model, path.attr, path.sub_attr, path.uri)
    if attribute is None:
        raise UnsupportedFilter(f"{path} is not an attribute of this resource type")
    return _comparable(attribute, path) if comparison else attribute


def _comparable(attribute: Attribute, path: AttrPath) -> Attribute:
    if attribute.kind != "complex":
        return attribute
    value = attribute.sub("value") if attribute.multi_valued else None
    if value is None:
        raise UnsupportedFilter(f"{path} is complex: compare one of its sub-attributes")
    return value


def _compare_present(column: Any, kind: Kind) -> ColumnElement[bool]:
    condition = column.is_not(None)
    return and_(condition, column != "") if kind == "string" else condition


def compare_column(spec: Column, op: CompareOperator, raw: Any) -> ColumnElement[bool]:
    """One comparison on a column (RFC 7644 §3.4.2.2 operators, null-safe)."""
    if spec.column is None:
        unassigned = (op == CompareOperator.eq) == (raw is None)
        return true() if unassigned else false()
    col: KeyedColumnElement[Any] = spec.column
    if raw is None:
        # RFC 7644 §3.4.2.2 leaves `eq null` to the server: treat it as "not present".
        if op == CompareOperator.eq:
            return col.is_(None)
        if op == CompareOperator.ne:
            return col.is_not(None)
        raise UnsupportedFilter(f"{op.value} cannot compare with null")
    value = _coerce(spec, raw)
    present = col.is_not(None)
    if op == CompareOperator.eq:
        return and_(present, col == value)
    if op == CompareOperator.ne:
        return or_(col.is_(None), col != value)
    if spec.kind == "boolean":
        raise UnsupportedFilter(f"{op.value} does not apply to a boolean")
    if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        if spec.kind != "string":
            raise UnsupportedFilter(f"{op.value} applies to strings only")
        text = str(value)
        if op == CompareOperator.co:
            return and_(present, contains(col, text))
        if op == CompareOperator.ew:
            return and_(present, ends_with(col, text))
        # LIKE can use an index where the column's collation allows; the substr makes the
        # test exact where LIKE is not (SQLite's LIKE ignores ASCII case).
        pattern = _escape_like(text) + "%"
        return and_(present, col.like(pattern, escape="\\"), func.substr(col, 1, len(text)) == text)
    comparisons = {
        CompareOperator.gt: col > value,
        CompareOperator.ge: col >= value,
        CompareOperator.lt: col < value,
        CompareOperator.le: col <= value,
    }
    return and_(present, comparisons[op])


def utc_datetime(raw: Any) -> datetime:
    """A filter's dateTime (RFC 7643 §2.3.5, xsd:dateTime) as an aware UTC instant.

    xsd:dateTime makes the offset optional. One without it is read as UTC, not refused:
    every `meta` time this server writes is UTC ("Z"), so a client that drops the "Z" means
    UTC, and the value index (`values.key_of`) already reads offset-less times that way.
    An instant outside years 1..9999 once converted (year 1 at +14:00, year 9999 at -14:00)
    names no time a resource can have, and the database cannot hold it: UnsupportedFilter.
    """
    if isinstance(raw, datetime):
        when = raw
    else:
        if isinstance(raw, bool) or not isinstance(raw, str):
            raise UnsupportedFilter(f"{raw!r} is not an xsd:dateTime")
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise UnsupportedFilter(f"{raw!r} is not an xsd:dateTime") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise UnsupportedFilter(f"{raw!s} is outside the years 1 to 9999 in UTC") from None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _coerce(spec: Column, raw: Any) -> Any:
    if spec.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"  # Entra's "True"/"False"
        raise UnsupportedFilter("a boolean attribute compares with true or false")
    if spec.kind == "datetime":
        return utc_datetime(raw)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise UnsupportedFilter("a string attribute compares with a string")
    value = str(raw)
    return value if spec.case_exact else casefold_key(value)


class FilterToSql(FilterVisitor[ColumnElement[bool]]):
    """Walks a filter tree and returns one boolean SQL expression.

    `model` is the resource type the paths are resolved in; without one (a PATCH value
    filter over one member table) paths are looked up in `columns` by their lower-cased text.
    """

    def __init__(
        self, columns: ColumnMap, model: Any = None, values: ValueTable | None = None
    ) -> None:
        self.columns = columns
        self.model = model
        self.values = ValueFilters(values) if values is not None else None
        # Inside `members[...]`: sub-filters name sub-attributes of one column-kept attribute.
        self._item_head: Attribute | None = None

    def _target(self, path: AttrPath, *, comparison: bool) -> tuple[str, Attribute | None]:
        if self.model is None:
            return str(path).lower(), None
        head = self._item_head
        if head is None:
            attribute = resolve_path(self.model, path, comparison=comparison)
            return attribute.name, attribute
        found = head.sub(path.attr) if path.uri is None and path.sub_attr is None else None
        if found is None:
            raise UnsupportedFilter(f"{path} is not a sub-attribute of {head.name}")
        attribute = _comparable(found, path) if comparison else found
        return attribute.name, attribute

    def _indexed(self, name: str, attribute: Attribute | None) -> tuple[ValueFilters, Attribute]:
        """The value index, for an attribute no column holds."""
        if self.values is None or attribute is None or self._item_head is not None:
            raise UnsupportedFilter(f"filtering on {name} is not supported")
        return self.values, attribute

    def _wrap(self, spec: Column, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # Inside a value path the EXISTS is built once around the whole sub-filter.
        if spec.exists is None or self._item_head is not None:
            return condition
        return spec.exists(condition)

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        name, attribute = self._target(node.attr_path, comparison=True)
        spec = self.columns.get(name)
        if spec is not None and spec.exists is not None and self._item_head is None:
            # Of many values, `ne` holds when none equals the operand and `eq null` when none
            # is present: negations of "some value is" (as on the value index).
            if node.value is None and node.op in (CompareOperator.eq, CompareOperator.ne):
                some = spec.exists(compare_column(spec, CompareOperator.ne, None))
                return not_(some) if node.op == CompareOperator.eq else some
            if node.op == CompareOperator.ne:
                return not_(spec.exists(compare_column(spec, CompareOperator.eq, node.value)))
        if spec is not None:
            return self._wrap(spec, compare_column(spec, node.op, node.value))
        values, attribute = self._indexed(name, attribute)
        return values.compare(attribute, node.op, node.value)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        name, attribute = self._target(node.attr_path, comparison=False)
        spec = self.columns.get(name)
        if spec is not None:
            if spec.column is None:
                return false()
            return self._wrap(spec, _compare_present(spec.column, spec.kind))
        values, attribute = self._indexed(name, attribute)
        return values.present(attribute)

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
        if self._item_head is not None:
            raise UnsupportedFilter("value filters do not nest")
        name, head = self._target(node.attr_path, comparison=False)
        if head is None:
            raise UnsupportedFilter(f"value filters on {name} are not supported")
        if not head.multi_valued:
            raise UnsupportedFilter(f"{name} is not multi-valued")
        kept = [spec for key, spec in self.columns.items() if key.partition(".")[0] == name]
        if not kept:
            values, head = self._indexed(name, head)
            return values.value_path(head, node.val_filter)
        self._item_head = head
        try:
            inner = self.visit(node.val_filter)
        finally:
            self._item_head = None
        exists = next((spec.exists for spec in kept if spec.exists is not None), None)
        return exists(inner) if exists is not None else inner
