"""Run every check of `authbridge doctor`: each configured IdP (in parallel: each waits on
the network), then authbridge's own issuer, SCIM sources and database."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from authbridge.config.model import Settings
from authbridge.connectors.base import CallbackConnector
from authbridge.connectors.github import GithubConnector
from authbridge.connectors.ldap import LdapConnector
from authbridge.connectors.mock import MockConnector
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.registry import build_connectors
from authbridge.connectors.saml import SamlConnector
from authbridge.doctor.github import check_github
from authbridge.doctor.ldap import check_ldap
from authbridge.doctor.local import check_database, check_issuer, check_scim
from authbridge.doctor.oidc import check_oidc
from authbridge.doctor.report import Check
from authbridge.doctor.saml import check_saml

__all__ = ["check_connector", "diagnose"]


def check_connector(connector: CallbackConnector, settings: Settings) -> list[Check]:
    """The checks of one IdP, through `connector` itself: the CLI's, and the console's
    "Run checks" on the app's live connector (same HTTP client, proxy and caches)."""
    if isinstance(connector, OidcConnector):
        return check_oidc(connector, settings)
    if isinstance(connector, GithubConnector):
        return check_github(connector, settings)
    if isinstance(connector, SamlConnector):
        return check_saml(connector, settings)
    if isinstance(connector, MockConnector):
        return [
            Check(
                "config",
                connector.id,
                "warn",
                "no upstream IdP is configured: the built-in mock IdP signs in whoever is "
                "typed (loopback callers only)",
                "configure auth.openidConnect.<provider> or auth.github",
            )
        ]
    return []


def diagnose(settings: Settings, env: Mapping[str, str] | None = None) -> list[Check]:
    """Every check, in a stable order (IdPs in configuration order, then authbridge)."""
    environ = os.environ if env is None else env
    connectors = build_connectors(settings, environ)
    try:
        workers = max(1, min(8, len(connectors.ordered) + len(connectors.passwords)))
        with ThreadPoolExecutor(workers, thread_name_prefix="doctor") as pool:
            found = list(pool.map(lambda c: check_connector(c, settings), connectors.ordered))
            found += pool.map(
                lambda c: check_ldap(c) if isinstance(c, LdapConnector) else [],
                connectors.passwords,
            )
    finally:
        connectors.close()
    checks = [check for group in found for check in group]
    checks.append(check_issuer(settings))
    checks.extend(check_scim(settings, environ))
    checks.extend(check_database(settings))
    return checks
