"""Filters on the value index (`values.py`) as SQL: every condition is a lookup of
`(attr, value_key)` or of one element `(owner, attr, item)`, both served by indexes.

RFC 7644 §3.4.2.2 meanings, as scim2-models' evaluator reads them:

- a comparison on a multi-valued attribute holds when some value satisfies it; `ne` when no
  value equals the operand (so `not (x eq v)` and `x ne v` agree); `eq null` is "not present";
- `attr[filter]` holds when one element satisfies the whole sub-filter. It is one subquery
  over the element rows: it starts from the most selective positive term (an index seek on
  `(attr, value_key)`), and checks the other terms on the same element by primary key;
  `attr[a or b]` is `attr[a] or attr[b]`.

String comparisons work on keys in code-point order (the value columns' collation), so `sw` is
an index range, and `co`/`ew` test the whole key exactly on every backend (`portable_sql`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    coerce_value,
)
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import aliased

from authbridge.storage.scim.errors import UnsupportedFilter
from authbridge.storage.scim.portable_sql import contains, ends_with, prefix_range
from authbridge.storage.scim.values import KEY_LENGTH, Attribute, key_of

__all__ = ["ValueFilters", "ValueTable"]

ORDERING = (CompareOperator.gt, CompareOperator.ge, CompareOperator.lt, CompareOperator.le)
_COMPARE: dict[CompareOperator, Callable[[Any, str], ColumnElement[bool]]] = {
    CompareOperator.eq: operator.eq,
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}


@dataclass(frozen=True)
class ValueTable:
    """The value index of one resource type and the resource id it hangs off."""

    table: Any  # mapped class with attr, item, value_key, value_full and the owner column
    owner_column: str  # the table's column holding the resource id ("user_id")
    owner: Any  # the resource id in the outer query (`scim_users.user_id`)


def _key_condition(row: Any, op: CompareOperator, key: str) -> ColumnElement[bool]:
    """`op` between one value row and a key, as an index range on `value_key` where it can be.

    `value_key` is a key's first KEY_LENGTH characters. An operand shorter than that compares
    with the head alone exactly as with the whole key (a cut key's head is longer than the
    operand, so the two differ within the head or the operand is a prefix of both), so the
    lookup stays inside the index; a longer operand is checked against the whole key too."""
    col = row.value_key
    if len(key) < KEY_LENGTH:
        if op == CompareOperator.sw:
            return prefix_range(col, key)
        if op in _COMPARE:
            return _COMPARE[op](col, key)
    head = key[:KEY_LENGTH]
    whole = func.coalesce(row.value_full, col)
    if op == CompareOperator.co:
        return and_(col.is_not(None), contains(whole, key))
    if op == CompareOperator.ew:
        return and_(col.is_not(None), ends_with(whole, key))
    if op == CompareOperator.sw:
        return and_(col == head, func.substr(whole, 1, len(key)) == key)
    if op in (CompareOperator.eq, CompareOperator.gt, CompareOperator.ge):
        return and_(
            col == head if op == CompareOperator.eq else col >= head, _COMPARE[op](whole, key)
        )
    if op in (CompareOperator.lt, CompareOperator.le):
        return and_(col <= head, _COMPARE[op](whole, key))
    raise UnsupportedFilter(f"{op.value} is not a comparison")


def _rank(term: FilterNode) -> int:
    """How selective a positive term is likely to be: equality on a value first, presence
    last. Only SQLite follows the order written; PostgreSQL's planner uses statistics."""
    if not isinstance(term, Comparison):
        return 6
    rank = {CompareOperator.eq: 0, CompareOperator.sw: 2, CompareOperator.co: 4}.get(term.op, 3)
    name = term.attr_path.attr.lower()
    return rank + (1 if name in ("type", "primary") else 0)


def _positive(term: FilterNode) -> bool:
    """A term only an existing row can satisfy: it can drive the lookup."""
    if isinstance(term, Present):
        return True
    return (
        isinstance(term, Comparison)
        and term.value is not None
        and term.op != CompareOperator.ne
        and term.attr_path.sub_attr is None
        and term.attr_path.uri is None
    )


class ValueFilters:
    """Conditions on a resource through its rows in one value table."""

    def __init__(self, values: ValueTable) -> None:
        self.values = values

    def _row(self) -> Any:
        return aliased(self.values.table)

    def _owner(self, row: Any) -> Any:
        return getattr(row, self.values.owner_column)

    def _owners(self, row: Any, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        """The resource has a row satisfying `conditions` (an IN, which both planners turn
        into a semi-join driven by the lookup index)."""
        result: ColumnElement[bool] = self.values.owner.in_(
            select(self._owner(row)).where(*conditions)
        )
        return result

    @staticmethod
    def _key(attribute: Attribute, op: CompareOperator, raw: Any) -> str:
        if attribute.kind == "complex":
            raise UnsupportedFilter(
                f"{attribute.name} is complex: compare one of its sub-attributes"
            )
        if op in ORDERING and attribute.kind == "number":
            raise UnsupportedFilter(f"{op.value} is not supported on {attribute.name}")
        try:
            value = coerce_value(attribute.binding, raw, op)
        except Exception:  # scim2-models' InvalidFilterException, pydantic errors
            raise UnsupportedFilter(f"{raw!r} is not a value of {attribute.name}") from None
        return key_of(attribute, value)

    def compare(self, attribute: Attribute, op: CompareOperator, raw: Any) -> ColumnElement[bool]:
        """`attribute op raw` on a resource: some value of it satisfies the comparison."""
        row = self._row()
        named = row.attr == attribute.name
        if raw is None:
            if op not in (CompareOperator.eq, CompareOperator.ne):
                raise UnsupportedFilter(f"{op.value} cannot compare with null")
            present = self._owners(row, named)
            return not_(present) if op == CompareOperator.eq else present
        if op == CompareOperator.ne:
            key = self._key(attribute, CompareOperator.eq, raw)
            return not_(self._owners(row, named, _key_condition(row, CompareOperator.eq, key)))
        key = self._key(attribute, op, raw)
        return self._owners(row, named, _key_condition(row, op, key))

    def present(self, attribute: Attribute) -> ColumnElement[bool]:
        """`attribute pr`: rows exist only for non-empty values and complex nodes."""
        row = self._row()
        return self._owners(row, row.attr == attribute.name)

    def value_path(self, head: Attribute, node: FilterNode) -> ColumnElement[bool]:
        """`head[node]`: one element of `head` satisfies all of `node`."""
        if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
            return or_(*(self.value_path(head, term) for term in node.terms))
        terms = list(node.terms) if isinstance(node, LogicalExpr) else [node]
        drivers = sorted((t for t in terms if _positive(t)), key=_rank)
        element = self._row()
        if drivers:
            driver = drivers[0]
            terms.remove(driver)
            where = [self._on_element(head, element, driver, anchored=True)]
        else:
            # Every element of `head` has a row of its own to start from.
            where = [element.attr == head.name]
        where.extend(self._on_element(head, element, term, anchored=False) for term in terms)
        return self._owners(element, *where)

    def _sub(self, head: Attribute, node: Comparison | Present) -> Attribute:
        path = node.attr_path
        found = head.sub(path.attr) if path.uri is None and path.sub_attr is None else None
        if found is None:
            raise UnsupportedFilter(f"{path} is not a sub-attribute of {head.name}")
        return found

    def _on_element(
        self, head: Attribute, element: Any, node: FilterNode, *, anchored: bool
    ) -> ColumnElement[bool]:
        """`node` on the element `element` belongs to; `anchored`: `element` is the row of the
        term itself (the driver), so the term is a condition on that row."""
        if isinstance(node, Not):
            return not_(self._on_element(head, element, node.expr, anchored=False))
        if isinstance(node, LogicalExpr):
            terms = [self._on_element(head, element, t, anchored=False) for t in node.terms]
            return and_(true(), *terms) if node.op == LogicalOperator.and_ else or_(*terms)
        if isinstance(node, ValuePath):
            raise UnsupportedFilter("value filters do not nest")
        if not isinstance(node, (Comparison, Present)):
            raise UnsupportedFilter(f"unsupported filter node {type(node).__name__}")
        sub = self._sub(head, node)
        if anchored or sub is head:
            return self._on_row(sub, element, node)
        row = self._row()
        same = and_(
            self._owner(row) == self._owner(element),
            row.attr == sub.name,
            row.item == element.item,
        )
        if isinstance(node, Present):
            return exists().where(same)
        if node.value is None:
            if node.op not in (CompareOperator.eq, CompareOperator.ne):
                raise UnsupportedFilter(f"{node.op.value} cannot compare with null")
            found = exists().where(same)
            return ~found if node.op == CompareOperator.eq else found
        if node.op == CompareOperator.ne:
            key = self._key(sub, CompareOperator.eq, node.value)
            return ~exists().where(same, _key_condition(row, CompareOperator.eq, key))
        key = self._key(sub, node.op, node.value)
        return exists().where(same, _key_condition(row, node.op, key))

    def _on_row(
        self, sub: Attribute, element: Any, node: Comparison | Present
    ) -> ColumnElement[bool]:
        """`node` on the row `element` itself: the driver's row, or an element of a list of
        simple values (whose row always holds a value, so only `ne` and `eq null` differ)."""
        named: ColumnElement[bool] = element.attr == sub.name
        if isinstance(node, Present):
            return named
        if node.value is None:
            return and_(named, true() if node.op == CompareOperator.ne else false())
        if node.op == CompareOperator.ne:
            key = self._key(sub, CompareOperator.eq, node.value)
            return and_(named, not_(_key_condition(element, CompareOperator.eq, key)))
        key = self._key(sub, node.op, node.value)
        return and_(named, _key_condition(element, node.op, key))

    def sort_key(self, attribute: Attribute) -> Any:
        """RFC 7644 §3.4.2.3 sortBy on an indexed attribute: its value (for a multi-valued
        one, its first), in the same key form filters compare."""
        row = self._row()
        return (
            select(func.coalesce(row.value_full, row.value_key))
            .where(self._owner(row) == self.values.owner, row.attr == attribute.name)
            .order_by(row.item)
            .limit(1)
            .scalar_subquery()
        )
