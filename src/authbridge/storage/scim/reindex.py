"""Rebuild the SCIM value index (`scim_user_values`) from each user's stored attributes.

Migrations are frozen: 0003_scim_values creates the table and nothing else, because the rows
depend on the live indexing rules (`authbridge.storage.scim.values.value_rows`), which may change.
This is what `authbridge scim reindex` runs: after upgrading from a database that held SCIM
users before the value index existed, or after a release changes what is indexed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, delete, insert, select

from authbridge.storage.database import Database
from authbridge.storage.scim_models import ScimUser, ScimUserValue

__all__ = ["RowBuilder", "reindex_user_values", "value_index_missing"]

# A user's stored attributes -> its value-index rows (attr, item, value_key, value_full).
RowBuilder = Callable[[dict[str, Any]], list[dict[str, Any]]]
_VALUES: Table = ScimUserValue.__table__  # type: ignore[assignment]


def reindex_user_values(db: Database, rows_for: RowBuilder, *, batch: int = 1000) -> int:
    """Replace every SCIM user's value rows with `rows_for(attributes)`; return the user count.

    One transaction per `batch` users, in user-id order, so a large directory is neither one
    huge transaction nor unbounded memory. On PostgreSQL each batch locks its users' rows
    (`FOR UPDATE`) so a concurrent SCIM write to one of them waits rather than being
    overwritten by rows built from the attributes it replaced.
    """
    last = ""
    done = 0
    while True:
        with db.session() as session:
            query = (
                select(ScimUser.user_id, ScimUser.attributes)
                .where(ScimUser.user_id > last)
                .order_by(ScimUser.user_id)
                .limit(batch)
            )
            if db.dialect == "postgresql":
                query = query.with_for_update()
            users = session.execute(query).all()
            if not users:
                return done
            ids = [user_id for user_id, _ in users]
            session.execute(delete(ScimUserValue).where(ScimUserValue.user_id.in_(ids)))
            rows = [
                {"user_id": user_id, **row}
                for user_id, attributes in users
                for row in rows_for(attributes or {})
            ]
            if rows:
                session.execute(insert(_VALUES), rows)
        done += len(users)
        last = ids[-1]


def value_index_missing(db: Database) -> bool:
    """Whether SCIM users exist but the value index holds nothing: a database provisioned
    before migration 0003 (every indexed user has at least its `schemas` row)."""
    with db.session() as session:
        has_users = session.scalar(select(ScimUser.user_id).limit(1)) is not None
        if not has_users:
            return False
        return session.scalar(select(ScimUserValue.user_id).limit(1)) is None
