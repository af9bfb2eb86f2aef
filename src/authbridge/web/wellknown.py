"""OpenID Provider discovery (OIDC Discovery 1.0 §4) and the JWKS (RFC 7517 §5).

Both are served from bytes computed once per key-set change, with an ETag and a max-age
shorter than the time a new key is published before it signs, so caches never miss a key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from authbridge.tokens.claims import GROUPS_OVERFLOW, ROLES_OVERFLOW, SCOPED_ROLES
from authbridge.web.dependencies import ServicesDep
from authbridge.web.oauth_routes import provider_metadata
from authbridge.web.services import PublishedDocument, Services

__all__ = ["JWKS_PATH", "router"]

JWKS_PATH = "/api/v1/system/config/jwks"
router = APIRouter()


def _cached(request: Request, body: bytes, etag: str, max_age: int, media_type: str) -> Response:
    headers = {
        "etag": etag,
        "cache-control": f"public, max-age={max_age}",
        "access-control-allow-origin": "*",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _max_age(services: Services) -> int:
    return max(0, min(3600, services.settings.tokens.key_publish_ahead // 2))


@router.get(JWKS_PATH, include_in_schema=False)
@router.get("/.well-known/jwks.json", include_in_schema=False)
def jwks(request: Request, services: ServicesDep) -> Response:
    keys = services.ready().keyring.current()
    return _cached(request, keys.jwks, keys.etag, _max_age(services), "application/jwk-set+json")


def discovery_document(services: Services) -> dict[str, object]:
    """Only what is implemented is listed; endpoints join as they are built."""
    issuer = services.settings.server.issuer
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        **provider_metadata(issuer),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [services.settings.tokens.algorithm],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "at_hash",
            "azp",
            "principal_type",
            "email",
            "email_verified",
            "name",
            "preferred_username",
            "groups",
            "roles",
            SCOPED_ROLES,
            ROLES_OVERFLOW,
            GROUPS_OVERFLOW,
        ],
    }


@router.get("/.well-known/openid-configuration", include_in_schema=False)
def openid_configuration(request: Request, services: ServicesDep) -> Response:
    # Published once by create_app; a Services used without it is answered all the same.
    document = services.discovery or PublishedDocument.of(discovery_document(services))
    return _cached(request, document.body, document.etag, 3600, "application/json")
