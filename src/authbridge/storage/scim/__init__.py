"""SCIM persistence: the SQL behind `authbridge.scim` (which imports no SQLAlchemy)."""

from authbridge.storage.scim.reindex import RowBuilder, reindex_user_values

__all__ = ["RowBuilder", "reindex_user_values"]
