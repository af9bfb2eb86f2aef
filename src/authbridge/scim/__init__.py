"""SCIM 2.0 provisioning (RFC 7643, RFC 7644) over the directory, free of any web framework.

Layers, each a module:

- `filters`: filter text to syntax tree (scim2-models' grammar), with length and term limits;
  the stores of `authbridge.storage.scim` translate the tree to SQL (`filter_sql`, `columns`,
  the value index `values` and `value_sql`), so no module here imports SQLAlchemy;
- `resources`: the User (with the enterprise extension) and Group models;
- `body`: request bodies to Python values (400 for deep nesting and lone surrogates);
- `dialect`: what Okta and Entra really send, brought to RFC 7644 before it is applied, each
  source's departures for that source only;
- `users`, `groups`: the protocol side of each resource type (validation, PATCH plans,
  deactivation revoking credentials) over its store (`storage.scim.UserStore`, `GroupStore`:
  uniqueness, per-source visibility, membership as SQL set operations, team→role template,
  audit, one transaction per write), over `base` (parsing, ETags, lists, storage's refusals
  as RFC 7644 §3.12 errors); `service`: one of each for a source;
- `auth`: the two credentials (HTTP Basic for Okta, Bearer for Entra), compared in
  constant time; `discovery`: ServiceProviderConfig, Schemas, ResourceTypes;
- `errors`: RFC 7644 §3.12 errors; `authbridge.storage.scim.audit`: the trail of changes.

The HTTP glue is `authbridge.web.scim_routes`, mounted at `/v1/scim/v2/{okta|microsoft}`.

This package imports none of its modules: `auth` and `credentials` (what every start-up
needs) are free of scim2-models, whose models and filter grammar (lark) cost about a quarter
of a start-up; the service, resources, filters and discovery load them, and `sources` builds
a source's service (importing them) only when it is first needed (`tests/test_imports.py`).
"""
