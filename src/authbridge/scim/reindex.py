"""The SCIM value index rebuilt from stored attributes, with the rules every write uses.

Migration 0003 creates the index table only (migrations are frozen), so a database that
held SCIM users before it is indexed here: by `authbridge scim reindex`, and by itself at
start-up and `authbridge db upgrade` when users exist but the index is empty.

Every start asks `reindex_if_missing`, and nearly always nothing is missing: the indexing
rules (scim2-models' resource models) are imported only when rows are built.
"""

from __future__ import annotations

from typing import Any

from authbridge.storage.database import Database
from authbridge.storage.scim import reindex_user_values, value_index_missing

__all__ = ["reindex", "reindex_if_missing", "user_rows"]


def user_rows(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """A user's value-index rows, built as every SCIM write builds them."""
    from authbridge.scim.resources import USER_SCHEMA, UserModel
    from authbridge.storage.scim.values import value_rows

    return value_rows(UserModel, USER_SCHEMA, attributes)


def reindex(db: Database) -> int:
    """Rebuild every SCIM user's value rows; returns how many users were indexed."""
    return reindex_user_values(db, user_rows)


def reindex_if_missing(db: Database) -> int | None:
    """Index a database provisioned before the value index existed; None if none is needed."""
    if not value_index_missing(db):
        return None
    return reindex(db)
