"""The token endpoint (RFC 6749 §3.2, §5) as a plain ASGI app, and the pieces of the token-style
endpoints' requests and responses that `oauth_routes.py` shares with it.

Every grant comes through here: the provider's hot path. The endpoint reads the two headers
it needs and the body straight from the ASGI scope and `receive`, and answers with two
`send` calls whose header list is prepared once: no Starlette `Request`, no per-request
exception-handling wrapper (the app's `ExceptionMiddleware` has the same handlers), no
`JSONResponse`. The bytes and headers are those `JSONResponse` with the no-store headers and
`_cors` produced (tests/web/test_token_endpoint.py compares them).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.types import Receive, Scope, Send

from authbridge.provider.errors import OAuthError
from authbridge.provider.service import OpenIDProvider
from authbridge.storage.loop_io import NotInPlace, run_on_loop, try_in_place
from authbridge.web.security import client_address
from authbridge.web.services import Services

__all__ = [
    "NO_STORE",
    "TokenEndpoint",
    "error_headers",
    "grant_body",
    "json_parts",
    "parse_form",
]

# RFC 6749 §5.1: "Cache-Control: no-store" and "Pragma: no-cache" on every token response.
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_NO_STORE_RAW = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
_JSON_TYPE = (b"content-type", b"application/json")
# Browser apps (SPAs with PKCE) call the token endpoint cross-origin without cookies.
_CORS = (b"access-control-allow-origin", b"*")
# Starlette's JSONResponse.render: compact, UTF-8, no NaN; one encoder instead of one per call
# (json.dumps with options builds a JSONEncoder each time).
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_FORM_TYPE = "application/x-www-form-urlencoded"


def json_parts(
    body: dict[str, Any] | None,
    status: int = 200,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    *,
    cors: bool = False,
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(body bytes, raw headers) of a no-store JSON answer, in the order Starlette's
    `JSONResponse(body, status, headers={**NO_STORE, **extra})` writes them, followed by
    `access-control-allow-origin: *` when `cors`. `body` None: an empty 200 (RFC 7009 §2.2)."""
    if body is None:
        data = b""
        headers = [*_NO_STORE_RAW, *extra, (b"content-length", b"0")]
    else:
        data = _ENCODER.encode(body).encode()
        headers = [*_NO_STORE_RAW, *extra, (b"content-length", b"%d" % len(data)), _JSON_TYPE]
    if cors:
        headers.append(_CORS)
    return data, headers


def error_headers(exc: OAuthError, *, basic: bool) -> tuple[tuple[bytes, bytes], ...]:
    """An error response's own headers (RFC 6749 §5.2): Retry-After when throttled, and on a
    401 WWW-Authenticate with the scheme the client tried."""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    if exc.retry_after is not None:
        headers += ((b"retry-after", str(exc.retry_after).encode("latin-1")),)
    if exc.status == 401:
        challenge = b'Basic realm="authbridge"' if basic else b"Basic"
        headers += ((b"www-authenticate", challenge),)
    return headers


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """A token-style request body (RFC 6749 §3.2): form-encoded, no repeated parameters.

    Split as `urllib.parse.parse_qsl(..., keep_blank_values=True)` does (a field without
    `=` has an empty value, empty fields are skipped, `+` is a space, %-escapes are UTF-8
    with invalid sequences replaced), with `unquote` only on fields that need it: these
    bodies are small and this is the hot path. Their size and field count are limited
    while they stream, before this runs (`web/limits.py`).
    """
    content_type = content_type.split(";")[0].strip().lower()
    if not content_type and not body:
        return {}  # nothing sent: the missing parameters are named by the grant
    if content_type != _FORM_TYPE:
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "the body is not valid UTF-8 form data") from None
    out: dict[str, str] = {}
    for field in text.split("&"):
        if not field:
            continue
        key, _, value = field.partition("=")
        if "+" in key or "%" in key:
            key = unquote(key.replace("+", " "))
        if "+" in value or "%" in value:
            value = unquote(value.replace("+", " "))
        if key in out:
            raise OAuthError("invalid_request", f"{key} is given more than once (RFC 6749 §3.2)")
        out[key] = value
    return out


async def grant_body(
    services: Services,
    provider: OpenIDProvider,
    name: str,
    authorization: str | None,
    form: dict[str, str],
    address: str | None,
) -> Any:
    """Run the provider's `name` (token, revoke, ...) where its storage calls belong."""
    method = getattr(provider, name)
    if provider.inline_io:
        # SQLite is in-process and serialises writers anyway: a thread hop costs more
        # than the sub-millisecond statements it would move off the event loop.
        return method(authorization, form, address)
    threads = services.grant_threads
    if provider.loop_io:
        # PostgreSQL: on the loop, the hot statements awaited on the loop's connections,
        # every other storage call in a grant thread (storage/loop_io.py); a grant that
        # usually needs no storage is tried in place first, without the greenlet.
        if provider.in_place_first(name, form):
            body = try_in_place(method, authorization, form, address)
            if not isinstance(body, NotInPlace):
                return body
        return await run_on_loop(threads.run, method, authorization, form, address)
    return await threads.run(method, authorization, form, address)


async def _body(receive: Receive) -> bytes:
    """The whole request body, as Starlette's `Request.body()` reads it (a disconnect,
    such as `web/limits.py` refusing the body, raises ClientDisconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


class TokenEndpoint:
    """`POST /oauth2/token` (RFC 6749 §3.2 and §5): JSON with Cache-Control: no-store,
    and `access-control-allow-origin: *` for browser apps."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization: str | None = None
        content_type: str | None = None
        for key, value in scope["headers"]:
            # The first of a repeated header, as Starlette's Headers.get reads it.
            if key == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif key == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
        services: Services = scope["app"].state.services
        provider = services.ready().provider
        address = client_address(HTTPConnection(scope), services.settings.server.trusted_proxies)
        try:
            form = parse_form(content_type or "", await _body(receive))
            body = await grant_body(services, provider, "token", authorization, form, address)
            data, headers = json_parts(body, cors=True)
            status = 200
        except OAuthError as exc:
            basic = bool(authorization and authorization.lower().startswith("basic "))
            status = exc.status
            data, headers = json_parts(
                exc.as_dict(), status, error_headers(exc, basic=basic), cors=True
            )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
