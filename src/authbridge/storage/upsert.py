"""INSERT ... ON CONFLICT for the two backends (both speak the same clause)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_for"]


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT construct of the session's dialect that supports `on_conflict_do_*`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
