"""OpenID Provider discovery (OIDC Discovery 1.0 §4) and the JWKS (RFC 7517 §5).

Both are served from bytes computed once per key-set change, with an ETag and a max-age
shorter than the time a new key is published before it signs, so caches never miss a key.

Every service that validates tokens fetches them, so `PublicDocuments` answers them in front
of the router: a plain ASGI callable sending precomputed header tuples and bytes (no routing,
no dependency injection, no thread-pool hop). It sits inside the observability and security
middlewares, so these answers still get their request id, access-log line, latency sample and
security headers. Whatever it cannot answer inline (storage not up, a key set due for reload,
another method) goes on to the routes below, which answer exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authbridge.storage.errors import Unavailable
from authbridge.tokens.claims import GROUPS_OVERFLOW, ROLES_OVERFLOW, SCOPED_ROLES
from authbridge.web.dependencies import ServicesDep
from authbridge.web.oauth_routes import provider_metadata
from authbridge.web.services import PublishedDocument, Services

__all__ = ["JWKS_PATH", "PublicDocuments", "router"]

JWKS_PATH = "/api/v1/system/config/jwks"
WELL_KNOWN_JWKS = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# What `PublicDocuments` answers from memory.
PUBLIC_DOCUMENT_PATHS = frozenset((JWKS_PATH, WELL_KNOWN_JWKS, DISCOVERY_PATH))
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
@router.get(WELL_KNOWN_JWKS, include_in_schema=False)
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


@router.get(DISCOVERY_PATH, include_in_schema=False)
def openid_configuration(request: Request, services: ServicesDep) -> Response:
    # Published once by create_app; a Services used without it is answered all the same.
    document = services.discovery or PublishedDocument.of(discovery_document(services))
    return _cached(request, document.body, document.etag, 3600, "application/json")


@dataclass(frozen=True)
class _Route:
    """What the access log and the latency metric read as the route (`scope["route"].path`)."""

    path: str


@dataclass(frozen=True)
class _Answer:
    """One document's two answers as ready ASGI header lists, as `_cached` builds them."""

    source: object  # the snapshot these were computed from (identity decides reuse)
    etag: bytes
    body: bytes
    ok: list[tuple[bytes, bytes]]
    not_modified: list[tuple[bytes, bytes]]

    @classmethod
    def of(cls, source: object, body: bytes, etag: str, max_age: int, media: str) -> _Answer:
        common = [
            (b"etag", etag.encode("latin-1")),
            (b"cache-control", f"public, max-age={max_age}".encode()),
            (b"access-control-allow-origin", b"*"),
        ]
        ok = [
            *common,
            (b"content-length", str(len(body)).encode()),
            (b"content-type", media.encode()),
        ]
        return cls(source, etag.encode("latin-1"), body, ok, common)


class PublicDocuments:
    """The JWKS and discovery documents answered before routing (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self.services = services
        self.max_age = _max_age(services)
        self.routes = {p: _Route(p) for p in PUBLIC_DOCUMENT_PATHS}
        self.answers: dict[str, _Answer] = {}

    def _answer(self, path: str) -> _Answer | None:
        answer = self.answers.get(path)
        if path == DISCOVERY_PATH:
            document = self.services.discovery
            if document is None:
                return None
            if answer is None or answer.source is not document:
                answer = _Answer.of(
                    document, document.body, document.etag, 3600, "application/json"
                )
                self.answers[path] = answer
            return answer
        try:
            keys = self.services.ready().keyring.fresh()
        except Unavailable:
            return None
        if keys is None:
            return None  # due for reload: a storage read, done by the route off the loop
        if answer is None or answer.source is not keys:
            media = "application/jwk-set+json"
            answer = _Answer.of(keys, keys.jwks, keys.etag, self.max_age, media)
            self.answers[path] = answer
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        answer = None if route is None or scope["method"] != "GET" else self._answer(route.path)
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        given = next((v for n, v in scope["headers"] if n == b"if-none-match"), None)
        if given == answer.etag:
            await send(
                {"type": "http.response.start", "status": 304, "headers": answer.not_modified}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        start: Message = {"type": "http.response.start", "status": 200, "headers": answer.ok}
        await send(start)
        await send({"type": "http.response.body", "body": answer.body})
