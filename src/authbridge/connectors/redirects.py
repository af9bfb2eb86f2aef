"""The redirect URI sent to an IdP: exactly the registered one (RFC 6749 §3.1.2.3).

One derivation for the sign-in routes (`web/oauth_client_routes.py`) and `authbridge doctor`,
so the URI doctor tells an operator to register is the one a login sends.
"""

from __future__ import annotations

from authbridge.config.model import Settings
from authbridge.config.saml import SAML_ACS_PATH
from authbridge.connectors.base import Landing

__all__ = [
    "CALLBACK_PATH",
    "DEX_CALLBACK_PATH",
    "REDIRECT_PATH",
    "SET_ISSUER",
    "redirect_uri",
    "redirect_uri_elsewhere",
]

CALLBACK_PATH = "/v1/oauth/callback/"
DEX_CALLBACK_PATH = "/dex/callback"
REDIRECT_PATH = "/v1/oauth/redirect/"
SET_ISSUER = "set server.issuer to the public URL the redirect URI was registered with"


def redirect_uri(settings: Settings, connector_id: str, landing: Landing) -> str:
    """A code-flow provider configured with `redirectUri` (a Dex registration ending in
    /dex/callback) uses it as written; otherwise the URL is derived from our issuer."""
    issuer = settings.server.issuer
    if landing == "saml":
        saml = settings.auth.saml.get(connector_id)
        if saml is not None and saml.redirect_uri:
            return saml.redirect_uri
        return f"{issuer}{SAML_ACS_PATH}{connector_id}"
    if landing != "callback":
        return issuer + REDIRECT_PATH
    auth = settings.auth
    provider = auth.openid_connect.providers.get(connector_id)
    if provider is not None and provider.redirect_uri:
        return provider.redirect_uri
    if connector_id == "github" and auth.github.redirect_uri:
        return auth.github.redirect_uri
    return issuer + CALLBACK_PATH


def redirect_uri_elsewhere(settings: Settings, uri: str) -> str | None:
    """Why a login cannot work when the IdP would send the browser to another address than
    ours (without this login's cookie); `None` when `uri` is under server.issuer."""
    issuer = settings.server.issuer
    if uri.startswith(issuer + "/"):
        return None
    return f"redirectUri {uri} is not under server.issuer {issuer}"
