"""The admin API, `/api/v1/...`: JSON over the admin services (`authbridge.admin`), one
OpenAPI 3.1 document at `/api/v1/openapi.json`, errors as RFC 9457 problem documents.

- `auth.py`: who is calling (a platform access token: a user's, a service account's
  client_credentials token or a robot's) and whether their roles hold the permission;
  cookies are never read here, so a browser session cannot be ridden without CSRF defence.
- `problems.py`: problem documents, and the handlers that turn admin errors and malformed
  requests under `/api/v1/` into them.
- `openapi.py`: the document, built from the API's own routes only (the OAuth, OIDC and
  SCIM endpoints are specified by their RFCs, not here).
- one module per resource (`users.py`, `teams.py`, ...), each a `router`; `ROUTERS` lists
  them for `create_app`.
"""

from __future__ import annotations

from fastapi import APIRouter

from authbridge.web.api import (
    audit,
    bindings,
    clients,
    connectors,
    invitations,
    keys,
    openapi,
    robots,
    roles,
    scim,
    service_accounts,
    teams,
    user_mfa,
    users,
)

__all__ = ["API_PREFIX", "ROUTERS"]

API_PREFIX = "/api/v1"

# Every resource router, included by `create_app` (and read by `openapi.py`).
ROUTERS: tuple[APIRouter, ...] = (
    openapi.router,
    roles.router,
    users.router,
    teams.router,
    bindings.router,
    clients.router,
    service_accounts.router,
    robots.router,
    keys.router,
    scim.router,
    connectors.router,
    invitations.router,
    audit.router,
    user_mfa.router,
)
