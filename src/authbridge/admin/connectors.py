"""Connectors (the upstream IdPs): what is configured, the redirect URI to register at each
IdP (`connectors/redirects.py`, the one the sign-in sends), and each one's status from
what this process already knows (`connectors/status.py`: no probe on read)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from authbridge.admin.errors import NotFound
from authbridge.config import Settings
from authbridge.connectors import Connectors
from authbridge.connectors.base import Landing
from authbridge.connectors.redirects import redirect_uri
from authbridge.connectors.registry import connector_type
from authbridge.connectors.status import ConnectorStatus, status_of

__all__ = ["ConnectorAdmin", "ConnectorView"]


@dataclass(frozen=True)
class ConnectorView:
    id: str
    type: str
    display_name: str
    enabled: bool
    redirect_uri: str
    status: ConnectorStatus


class ConnectorAdmin:
    def __init__(self, settings: Settings, connectors: Connectors) -> None:
        self._settings = settings
        self._connectors = connectors

    def list(self) -> list[ConnectorView]:
        """The enabled connectors in sign-in order, then the configured but disabled ones."""
        views = [
            ConnectorView(
                id=c.id,
                type=str(getattr(c, "type_name", "oidc")),
                display_name=c.display_name,
                enabled=True,
                redirect_uri=redirect_uri(self._settings, c.id, c.landing),
                status=status_of(c, self._connectors.recorder),
            )
            for c in self._connectors.ordered
        ]
        # Password connectors (LDAP): no redirect URI, nothing to register.
        views.extend(
            ConnectorView(
                id=c.id,
                type=str(getattr(c, "type_name", "ldap")),
                display_name=c.display_name,
                enabled=True,
                redirect_uri="",
                status=status_of(c, self._connectors.recorder),
            )
            for c in self._connectors.passwords
        )
        views.extend(self._disabled())
        return views

    def get(self, connector_id: str) -> ConnectorView:
        for view in self.list():
            if view.id == connector_id:
                return view
        raise NotFound(f"no connector {connector_id!r}")

    def _disabled(self) -> builtins.list[ConnectorView]:
        auth = self._settings.auth
        oidc = auth.openid_connect
        landing: Landing = "callback" if oidc.flow == "code" else "redirect"
        views = []
        for name, provider in oidc.providers.items():
            if provider.enabled or name in self._connectors.by_id:
                continue
            try:
                kind = connector_type(name, provider.type).type_name
            except ValueError:
                kind = str(provider.type)
            views.append(
                ConnectorView(
                    id=name,
                    type=kind,
                    display_name=provider.display_name or name.capitalize(),
                    enabled=False,
                    redirect_uri=redirect_uri(self._settings, name, landing),
                    status=ConnectorStatus("unknown"),
                )
            )
        for name, ldap in auth.ldap.items():
            if not ldap.enabled:
                views.append(
                    ConnectorView(
                        id=name,
                        type="ldap",
                        display_name=ldap.display_name or name.upper(),
                        enabled=False,
                        redirect_uri="",
                        status=ConnectorStatus("unknown"),
                    )
                )
        if not auth.github.enabled and "github" not in self._connectors.by_id:
            github = auth.github
            if github.client_id:
                views.append(
                    ConnectorView(
                        id="github",
                        type="github",
                        display_name=github.display_name or "GitHub",
                        enabled=False,
                        redirect_uri=redirect_uri(self._settings, "github", "callback"),
                        status=ConnectorStatus("unknown"),
                    )
                )
        return views
