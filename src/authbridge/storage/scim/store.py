"""What the SCIM User and Group stores share (RFC 7644 §3, after scim2-server's `ScimStorage`):
get, search (§3.4.2: filter, sort, start index, count), delete, and the version lock every
write takes first (§3.14).

A store speaks storage's language: filters arrive parsed (scim2-models' syntax tree), versions
as integers, refusals as `authbridge.storage.scim.errors`; `authbridge.scim` parses requests
and turns refusals into RFC 7644 §3.12 errors. A store returns resources as the JSON the
service serves (`_represent`), since only it holds the rows they are built from.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from scim2_models.path import AttrPath, FilterNode
from sqlalchemy import ColumnElement, delete, func, select, true, update
from sqlalchemy.orm import Session

from authbridge.config.model import ScimSettings
from authbridge.storage import Storage
from authbridge.storage.scim import audit
from authbridge.storage.scim.errors import (
    ResourceMissing,
    UnstorableValue,
    UnsupportedFilter,
    UnsupportedSort,
    VersionMismatch,
)
from authbridge.storage.scim.filter_sql import Column, ColumnMap, FilterToSql, resolve_path
from authbridge.storage.scim.value_sql import ValueFilters, ValueTable
from authbridge.storage.scim.values import casefold_key

__all__ = [
    "CHUNK",
    "Page",
    "ResourceStore",
    "Search",
    "Versions",
    "bounded",
    "chunks",
    "dialect_name",
    "folded_key",
    "iso",
]

CHUNK = 5000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits
# The versions a writer accepts (If-Match, RFC 7644 §3.14); None: any version.
Versions = Collection[int] | None


@dataclass(frozen=True)
class Search:
    """RFC 7644 §3.4.2: a parsed filter, sorting (§3.4.2.3) and pagination (§3.4.2.4)."""

    filter: FilterNode | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    with_related: bool = True


@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    resources: list[dict[str, Any]]


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def bounded(value: Any, name: str, limit: int) -> Any:
    """Refuse a value longer than its column (UnstorableValue), where truncating would make
    filters on the full value miss it."""
    if isinstance(value, str) and len(value) > limit:
        raise UnstorableValue(f"{name} is longer than {limit} characters")
    return value


def folded_key(value: Any, name: str, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    key = casefold_key(bounded(value, name, limit))
    return key if len(key) <= limit else key[:limit]


class ResourceStore:
    """One resource type of one provisioning source: the storage Users and Groups share.

    A subclass names its tables (`row` joined to `scim_row` by `scim_key == row_id`), its
    filterable columns, and how a row is represented (`_represent`, with the related ids
    `_related` loads: a user's groups, a group's members).
    """

    resource_type: ClassVar[str]
    row: ClassVar[Any]
    scim_row: ClassVar[Any]
    # ORM attributes: read through type(self), since on an instance they act as descriptors.
    row_id: ClassVar[Any]
    scim_key: ClassVar[Any]
    values: ClassVar[ValueTable | None] = None

    def __init__(
        self,
        storage: Storage,
        settings: ScimSettings,
        *,
        model: Any,
        source: str,
        base_url: str,
    ) -> None:
        # The scim2-models resource type (with its extensions) filter paths resolve in.
        self.model = model
        self.storage = storage
        self.settings = settings
        self.source = source
        self.base_url = base_url
        self.columns: ColumnMap = {}
        self.sort_columns: ColumnMap = {}

    # ------------------------------------------------------------- per resource type

    def _represent(self, row: Any, scim: Any, related: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _related(self, session: Session, ids: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    def _snapshot(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource as its audit row keeps it."""
        return resource

    def _visible(self) -> ColumnElement[bool]:
        """The rows this source sees."""
        condition: ColumnElement[bool] = self.scim_row.source == self.source
        return condition

    @staticmethod
    def _stored(dumped: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
        """The attributes kept as JSON: everything but what columns hold, never a password."""
        data = dict(dumped)
        for key in (*columns, "password"):
            data.pop(key, None)
        return data

    # ------------------------------------------------------------- one resource

    def _load(self, session: Session, resource_id: str) -> tuple[Any, Any]:
        row = session.execute(
            select(self.row, self.scim_row)
            .join(self.scim_row, type(self).scim_key == type(self).row_id)
            .where(type(self).row_id == resource_id, self.scim_row.source == self.source)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise ResourceMissing(f"{self.resource_type} {resource_id} not found")
        return row[0], row[1]

    def _lock(self, session: Session, resource_id: str, expected: Versions) -> int:
        """Bump the version first: it takes the write lock, then the expected version is
        checked against the one this write replaces (RFC 7644 §3.14)."""
        version = session.scalar(
            update(self.scim_row)
            .where(type(self).scim_key == resource_id, self.scim_row.source == self.source)
            .values(version=self.scim_row.version + 1)
            .returning(self.scim_row.version)
        )
        if version is None:
            raise ResourceMissing(f"{self.resource_type} {resource_id} not found")
        if expected is not None and version - 1 not in expected:
            raise VersionMismatch(f"{self.resource_type} {resource_id} is not at that version")
        return int(version)

    def _locked(
        self, session: Session, resource_id: str, expected: Versions, *, related: bool
    ) -> tuple[Any, Any, Any, dict[str, Any]]:
        """Lock, load, and represent the resource as it was before this write: its rows,
        its related ids (when asked for) and its representation."""
        version = self._lock(session, resource_id, expected)
        row, scim = self._load(session, resource_id)
        linked = self._related(session, [resource_id])[resource_id] if related else None
        before = self._represent(row, scim, linked)
        before["meta"]["version"] = f'W/"{version - 1}"'
        return row, scim, linked, before

    def _record(
        self,
        session: Session,
        actor: str,
        action: str,
        resource_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        audit.record(
            session,
            source=self.source,
            actor=actor,
            action=action,
            resource_type=self.resource_type,
            resource_id=resource_id,
            before=before,
            after=after,
        )

    def delete(self, resource_id: str, *, actor: str, expected: Versions = None) -> None:
        """RFC 7644 §3.6: delete the resource (and, by cascade, what only it holds)."""
        with self.storage.db.session() as session:
            *_, before = self._locked(session, resource_id, expected, related=True)
            session.execute(delete(self.row).where(type(self).row_id == resource_id))
            self._record(session, actor, "delete", resource_id, self._snapshot(before), None)

    # ------------------------------------------------------------- lists

    def search(self, query: Search) -> Page:
        """RFC 7644 §3.4.2: filtered, sorted, paginated, filtered by the database."""
        base = (
            select(self.row, self.scim_row)
            .join(self.scim_row, type(self).scim_key == type(self).row_id)
            .where(self._visible())
        )
        condition = self.condition(query.filter)
        order = self._order(query, [self.scim_row.created_at, type(self).row_id])
        with self.storage.db.session() as session:
            total, rows = self._page(session, base.where(condition), order, query)
            ids = [row.id for row, _ in rows]
            related = self._related(session, ids) if ids and query.with_related else {}
            items = [self._represent(row, scim, related.get(row.id)) for row, scim in rows]
        return Page(total, query.start_index, items)

    def condition(self, node: FilterNode | None) -> ColumnElement[bool]:
        """A parsed filter (§3.4.2.2) as one SQL condition; UnsupportedFilter if it cannot be."""
        if node is None:
            return true()
        return FilterToSql(self.columns, self.model, self.values).visit(node)

    def _order(self, query: Search, stable: list[Any]) -> list[Any]:
        """RFC 7644 §3.4.2.3 sortBy/sortOrder, then a unique key so pages never overlap."""
        if query.filter is not None:
            # Filtered: let the planner find rows through the filter's index, then sort the
            # few it finds. Left as plain columns, SQLite (without statistics) walks the
            # whole (source, created) index to avoid the sort, 50x slower at 100k users.
            stable = [func.coalesce(column, column) for column in stable]
        if not query.sort_by:
            return stable
        text = query.sort_by.strip()
        uri = None
        if ":" in text:
            uri, _, text = text.rpartition(":")
        attr, _, sub = text.partition(".")
        try:
            attribute = resolve_path(self.model, AttrPath(attr, sub or None, uri), comparison=True)
        except (ValueError, UnsupportedFilter):
            raise UnsupportedSort(f"sortBy {query.sort_by!r} is not an attribute") from None
        spec: Column | None = self.sort_columns.get(attribute.name)
        key: Any
        if spec is not None and spec.exists is None and spec.column is not None:
            key = spec.column
        elif spec is None and self.values is not None:
            key = ValueFilters(self.values).sort_key(attribute)
        else:
            raise UnsupportedSort(f"sorting by {query.sort_by} is not supported")
        return [key.desc() if query.descending else key.asc(), *stable]

    def _page(
        self, session: Session, statement: Any, order: list[Any], query: Search
    ) -> tuple[int, list[Any]]:
        total = (
            session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
            or 0
        )
        count = (
            self.settings.max_results
            if query.count is None
            else min(query.count, self.settings.max_results)
        )
        if count <= 0:
            return int(total), []
        rows = session.execute(
            statement.order_by(*order).offset(max(query.start_index, 1) - 1).limit(count)
        ).all()
        return int(total), [tuple(row) for row in rows]
