"""SCIM persistence: SQL behind `authbridge.scim` that needs nothing from it.

`audit` (the trail of SCIM changes), `portable_sql` (operators that mean the same on SQLite
and PostgreSQL), `reindex` (rebuilding the value index). The filter-to-SQL translation and
the services' queries are still in `authbridge.scim` (see docs/architecture.md).
"""

from authbridge.storage.scim.reindex import RowBuilder, reindex_user_values

__all__ = ["RowBuilder", "reindex_user_values"]
