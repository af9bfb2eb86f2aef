"""SCIM persistence: SQL behind `authbridge.scim` that needs nothing from it.

`store` (`ResourceStore`: get, search, delete, the version lock), `user_store`
(`UserStore`), `group_store` (`GroupStore`, `MemberChange`): the stores the services call.
`values` (the value index's row format, ORM-free), `filter_sql` and `value_sql` (an
already-parsed RFC 7644 §3.4.2.2 filter as one SQL condition), `columns` (where each
attribute lives), `portable_sql` (operators that mean the same on SQLite and PostgreSQL),
`audit` (the trail of SCIM changes), `reindex` (rebuilding the value index), `errors` (what
the stores refuse, which `authbridge.scim` turns into RFC 7644 §3.12 errors).
"""

from authbridge.storage.scim.reindex import RowBuilder, reindex_user_values, value_index_missing

__all__ = ["RowBuilder", "reindex_user_values", "value_index_missing"]
