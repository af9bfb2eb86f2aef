"""SCIM 2.0 provisioning (RFC 7643, RFC 7644) over the directory, free of any web framework.

Layers, each a module:

- `filters`: filter text to syntax tree (scim2-models' grammar), with length and term limits;
- `sql`: syntax tree to one SQLAlchemy expression; each path is resolved against the schema
  and found in a column (`columns`: case-insensitive attributes on indexed lower-cased
  columns) or else in the value index;
- `values`: the value index, every other attribute value of a user as an indexed row
  (`scim_user_values`); `value_sql`: filters on it (value paths on one element);
- `resources`: the User (with the enterprise extension) and Group models; `columns`: where
  their attributes live; `authbridge.storage.scim.portable_sql`: string operators that mean
  the same on both backends;
- `body`: request bodies to Python values (400 for deep nesting and lone surrogates);
- `dialect`: what Okta and Entra really send, brought to RFC 7644 before it is applied, each
  source's departures for that source only;
- `users`, `groups`: the rules of each resource type (uniqueness, per-source visibility,
  membership as SQL set operations, deactivation revoking credentials, team→role template,
  audit), one transaction per write, over `base` (parsing, ETags, lock/load/delete, lists);
  `service`: one of each for a source;
- `auth`: the two credentials (HTTP Basic for Okta, Bearer for Entra), compared in
  constant time; `discovery`: ServiceProviderConfig, Schemas, ResourceTypes;
- `errors`: RFC 7644 §3.12 errors; `authbridge.storage.scim.audit`: the trail of changes.

The HTTP glue is `authbridge.web.scim_routes`, mounted at `/v1/scim/v2/{okta|microsoft}`.
"""

from authbridge.scim.errors import ScimError
from authbridge.scim.service import ListQuery, Page, ScimService

__all__ = ["ListQuery", "Page", "ScimError", "ScimService"]
