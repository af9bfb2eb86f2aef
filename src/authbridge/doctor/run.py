"""Run every check of `authbridge doctor`: each configured IdP (in parallel: each waits on
the network), then authbridge's own issuer, SCIM sources and database."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from authbridge.config.model import Settings
from authbridge.connectors.base import CallbackConnector
from authbridge.connectors.github import GithubConnector
from authbridge.connectors.mock import MockConnector
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.registry import build_connectors
from authbridge.connectors.saml import SamlConnector
from authbridge.doctor.github import check_github
from authbridge.doctor.local import check_database, check_issuer, check_scim
from authbridge.doctor.oidc import check_oidc
from authbridge.doctor.report import Check
from authbridge.doctor.saml import check_saml

__all__ = ["diagnose"]


def _one(connector: CallbackConnector, settings: Settings) -> list[Check]:
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
        workers = max(1, min(8, len(connectors.ordered)))
        with ThreadPoolExecutor(workers, thread_name_prefix="doctor") as pool:
            found = list(pool.map(lambda c: _one(c, settings), connectors.ordered))
    finally:
        connectors.close()
    checks = [check for group in found for check in group]
    checks.append(check_issuer(settings))
    checks.extend(check_scim(settings, environ))
    checks.extend(check_database(settings))
    return checks
