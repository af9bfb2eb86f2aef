"""Roles: what exists (built in and `roles.<name>`), read only (roles are configuration)."""

from __future__ import annotations

from authbridge.admin.errors import NotFound
from authbridge.directory.roles import Role, RoleCatalog, UnknownRole

__all__ = ["RoleAdmin"]


class RoleAdmin:
    def __init__(self, catalog: RoleCatalog) -> None:
        self._catalog = catalog

    def list(self) -> list[Role]:
        """Built-in roles first, then the configuration's, by name."""
        return self._catalog.all()

    def get(self, name: str) -> Role:
        try:
            return self._catalog.get(name)
        except UnknownRole as exc:
            raise NotFound(str(exc)) from None
