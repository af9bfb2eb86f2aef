"""The admin console under `/admin`: server-rendered pages over the same `Admin` services
the admin API and the CLI call (one implementation of each act).

Each section is a module with a `router`; `ROUTERS` is what the app mounts.
"""

from __future__ import annotations

from fastapi import APIRouter

from authbridge.web.console import (
    audit,
    clients,
    connectors,
    home,
    invitations,
    keys,
    robots,
    roles,
    scim,
    service_accounts,
    team_members,
    teams,
    user_detail,
    users,
)
from authbridge.web.console.shell import install

__all__ = ["ROUTERS", "install"]

# users before user_detail: `/admin/users/new` is not a user id.
ROUTERS: tuple[APIRouter, ...] = (
    home.router,
    users.router,
    user_detail.router,
    clients.router,
    service_accounts.router,
    robots.router,
    keys.router,
    connectors.router,
    scim.router,
    audit.router,
    teams.router,
    team_members.router,
    roles.router,
    invitations.router,
)
