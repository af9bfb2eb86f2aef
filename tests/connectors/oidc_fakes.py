"""An OIDC provider's documents on the loopback StaticIdp, and connectors built against it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from authbridge.config.model import OidcProviderSettings
from authbridge.connectors.base import LoginRequest
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.oidc import OidcConnector
from tests.connectors.conftest import Handler, StaticIdp
from tests.connectors.forge import Signer

CLIENT = "client-abc"
LOGIN = LoginRequest(
    state="state-1",
    nonce="n-0S6_WzA2Mj",
    code_verifier="v" * 43,
    redirect_uri="http://localhost:8080/v1/oauth/callback/",
)


def discovery(issuer: str, base: str | None = None, **extra: Any) -> dict[str, Any]:
    base = base or issuer.rstrip("/")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "response_types_supported": ["code", "id_token", "id_token token", "token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        **extra,
    }


def serve_provider(idp: StaticIdp, signer: Signer, **extra: Any) -> None:
    idp.routes["/.well-known/openid-configuration"] = discovery(idp.url, **extra)
    idp.routes["/jwks"] = signer.jwks()


def form(handler: Handler) -> dict[str, str]:
    length = int(handler.headers.get("content-length") or 0)
    body = handler.rfile.read(length).decode()
    return {k: v[0] for k, v in parse_qs(body).items()}


def token_endpoint(signer: Signer, claims: dict[str, Any], access_token: str = "at-1") -> Any:
    def answer(handler: Handler) -> tuple[int, Any]:
        fields = form(handler)
        if fields.get("grant_type") == "client_credentials":
            return 200, {"access_token": "app-token", "token_type": "Bearer"}
        if fields.get("code") != "code-1":
            return 400, {"error": "invalid_grant"}
        id_token = signer.sign(signer.claims(**claims))
        return 200, {"access_token": access_token, "token_type": "Bearer", "id_token": id_token}

    return answer


def connector(
    cls: type[OidcConnector],
    idp: StaticIdp,
    *,
    flow: str = "code",
    name: str = "corp",
    **settings: Any,
) -> OidcConnector:
    values: dict[str, Any] = {
        "enabled": True,
        "client_id": CLIENT,
        "client_secret": "secret",
        "discovery_url": idp.url,
    }
    values.update(settings)
    return cls(
        name,
        OidcProviderSettings(**values),
        flow=flow,
        clock_tolerance=0,
        http=OutboundHttp({}),
    )
