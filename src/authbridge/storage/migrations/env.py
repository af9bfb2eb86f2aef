"""Alembic environment: runs on the connection authbridge hands it (see Database.upgrade)."""

from __future__ import annotations

from alembic import context

from authbridge.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via Database.upgrade
    raise RuntimeError("run migrations with `authbridge db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
