"""From settings to connectors: a registry from a config `type` to a class (Dex's
`ConnectorsConfig` map), instead of a switch."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from authbridge.config.model import Settings
from authbridge.connectors.base import CallbackConnector, PasswordConnector
from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.github import GithubConnector
from authbridge.connectors.http import OutboundHttp, UpstreamObserver
from authbridge.connectors.ldap import LdapConnector
from authbridge.connectors.mock import MockConnector
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.presets import (
    Auth0Connector,
    CognitoConnector,
    GoogleConnector,
    MicrosoftConnector,
    OktaConnector,
)
from authbridge.connectors.saml import SamlConnector
from authbridge.connectors.status import UpstreamRecorder

if TYPE_CHECKING:
    import httpx

__all__ = ["OIDC_TYPES", "Connectors", "build_connectors"]

OIDC_TYPES: dict[str, type[OidcConnector]] = {
    cls.type_name: cls
    for cls in (
        OidcConnector,
        OktaConnector,
        MicrosoftConnector,
        Auth0Connector,
        CognitoConnector,
        GoogleConnector,
    )
}


class Connectors:
    """The configured connectors in order, by id."""

    def __init__(
        self,
        connectors: list[CallbackConnector],
        http: OutboundHttp,
        recorder: UpstreamRecorder | None = None,
        passwords: list[PasswordConnector] | None = None,
    ) -> None:
        self.ordered = connectors
        self.by_id = {c.id: c for c in connectors}
        self.http = http
        # Each connector's last calls, for its status (connectors/status.py).
        self.recorder = recorder or UpstreamRecorder()
        # Connectors with a username/password form of their own (LDAP), in configured order.
        self.passwords = list(passwords or [])
        self.password_by_id = {c.id: c for c in self.passwords}

    def get(self, connector_id: str) -> CallbackConnector | None:
        return self.by_id.get(connector_id)

    def password(self, connector_id: str) -> PasswordConnector | None:
        return self.password_by_id.get(connector_id)

    @property
    def ids(self) -> list[str]:
        """Every connector's id: the sign-in methods a session may name."""
        return [*self.by_id, *self.password_by_id]

    @property
    def problems_may_wait(self) -> bool:
        """Whether listing the buttons' and forms' status may wait on an IdP."""
        return any(c.problem_may_wait for c in self.ordered) or any(
            c.problem_may_wait for c in self.passwords
        )

    @property
    def mock_enabled(self) -> bool:
        return isinstance(self.by_id.get("mock"), MockConnector)

    def close(self) -> None:
        self.http.close()
        for connector in self.passwords:
            connector.close()


def connector_type(name: str, configured: str | None) -> type[OidcConnector]:
    """`type` when set, else the provider name when it is a preset, else generic `oidc`."""
    if configured is not None:
        try:
            return OIDC_TYPES[configured]
        except KeyError:
            known = ", ".join(sorted(OIDC_TYPES))
            raise ValueError(
                f"auth.openidConnect.{name}.type {configured!r} is not one of {known}"
            ) from None
    return OIDC_TYPES.get(name, OidcConnector)


def build_connectors(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    observe: UpstreamObserver | None = None,
    instrument: Callable[[httpx.Client], None] | None = None,
) -> Connectors:
    """Every enabled upstream IdP (LDAP directories as password connectors); the mock IdP
    only when there is none. `observe` and
    `instrument` go to the one outbound HTTP client (metrics; tracing when on)."""
    # The file's variables (Houston's env list: GLOBAL_AGENT_HTTPS_PROXY) under the real ones.
    recorder = UpstreamRecorder(observe)
    http = OutboundHttp(
        settings.environ(os.environ if env is None else env),
        observe=recorder,
        instrument=instrument,
    )
    oidc = settings.auth.openid_connect
    connectors: list[Any] = []
    for name, provider in oidc.providers.items():
        if not provider.enabled:
            continue
        try:
            cls = connector_type(name, provider.type)
            problem = None
        except ValueError as exc:
            cls, problem = OidcConnector, str(exc)
        connector = cls(
            name,
            provider,
            flow=oidc.flow,
            clock_tolerance=oidc.clock_tolerance,
            http=http.for_connector(name),
        )
        if problem is not None:
            # A typo in one provider's block disables its button, not the whole service.
            connector.config_error = ProviderUnavailable(
                "This identity provider is not configured correctly.",
                problem,
                code="idp_misconfigured",
            )
        connectors.append(connector)
    if settings.auth.github.enabled:
        connectors.append(
            GithubConnector("github", settings.auth.github, http=http.for_connector("github"))
        )
    for name, saml in settings.auth.saml.items():
        if saml.enabled:
            connectors.append(
                SamlConnector(
                    name,
                    saml,
                    issuer=settings.server.issuer,
                    clock_tolerance=oidc.clock_tolerance,
                    http=http.for_connector(name),
                )
            )
    passwords: list[PasswordConnector] = [
        LdapConnector(name, ldap, observe=recorder)
        for name, ldap in settings.auth.ldap.items()
        if ldap.enabled
    ]
    if not connectors and not passwords:
        local = settings.auth.local
        connectors.append(MockConnector(allow_signup=local.enabled and local.allow_signup))
    return Connectors(connectors, http, recorder, passwords)
