"""Request body limits, enforced while the body streams in, before anything is buffered.

One mechanism for every route: a declared `Content-Length` over the route's limit is refused
before a byte of the body is read; a chunked body (or one whose length lies) is counted as it
arrives and cut off the moment it passes the limit. Form bodies are also held to a number of
fields and a size per field (counted on the stream, for `application/x-www-form-urlencoded`
and `multipart/form-data` alike), so 96 fields of 1 MiB never reach a parser.

A refused request is answered 413 Content Too Large (RFC 9110 §15.5.14) as an RFC 9457
problem document, or, under a prefix with its own renderer (SCIM), in that protocol's error
format (RFC 7644 §3.12). The handler that was reading is then told the client went away
(`http.disconnect`), and whatever it answers is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "FormLimits", "RouteLimit", "problem_too_large"]

# (status, detail) -> (media type, body)
Renderer = Callable[[int, str], tuple[str, bytes]]


def problem_too_large(status: int, detail: str) -> tuple[str, bytes]:
    """RFC 9457 §3: a problem document with no type of its own (`about:blank`)."""
    body = {"type": "about:blank", "title": "Content Too Large", "status": status, "detail": detail}
    return "application/problem+json", json.dumps(body).encode()


@dataclass(frozen=True)
class FormLimits:
    max_fields: int
    max_field_bytes: int


@dataclass(frozen=True)
class RouteLimit:
    """The largest body accepted under a path prefix, and how a refusal is written there."""

    prefix: str
    max_bytes: int
    render: Renderer = problem_too_large


class _FieldCounter:
    """Counts form fields and the size of the current one as separators stream past: `&` in a
    urlencoded body, `CRLF--boundary` in a multipart one (RFC 7578 §4.1); a separator split
    across two chunks is found through a carried tail."""

    def __init__(self, separator: bytes, fields: int, limits: FormLimits) -> None:
        self.separator = separator
        self.fields = fields
        self.current = 0
        self.limits = limits
        self._tail = b""

    @classmethod
    def for_content_type(cls, content_type: bytes, limits: FormLimits) -> _FieldCounter | None:
        if content_type in _FORM_KINDS:
            found = _FORM_KINDS[content_type]
        else:
            found = _form_kind(content_type)
            if len(_FORM_KINDS) < _FORM_KINDS_MAX:
                _FORM_KINDS[content_type] = found
        return None if found is None else cls(found[0], found[1], limits)

    def feed(self, chunk: bytes) -> str | None:
        """Take the next chunk; the reason the form is refused, or None."""
        data = self._tail + chunk
        end = 0
        largest = 0
        while (hit := data.find(self.separator, end)) != -1:
            self.fields += 1
            # Every field this chunk ends is measured, not only the last one: the first
            # began in earlier chunks (`current` counted it, the carried tail included).
            size = hit - end if end else self.current - len(self._tail) + hit
            largest = max(largest, size)
            end = hit + len(self.separator)
        self.current = len(data) - end if end else self.current + len(chunk)
        largest = max(largest, self.current)
        self._tail = data[max(end, len(data) - len(self.separator) + 1) :]
        if self.fields > self.limits.max_fields:
            return f"the form has more than {self.limits.max_fields} fields"
        if largest > self.limits.max_field_bytes:
            return f"a form field is larger than {self.limits.max_field_bytes} bytes"
        return None


def _form_kind(content_type: bytes) -> tuple[bytes, int] | None:
    """A form's field separator and the fields counted before the first byte, or None
    (not a form this layer counts)."""
    kind, options = parse_options_header(content_type.decode("latin-1"))
    if kind == b"application/x-www-form-urlencoded":
        return b"&", 1
    boundary = options.get(b"boundary")
    if kind == b"multipart/form-data" and boundary:
        return b"\r\n--" + boundary, 0
    return None


# Content-Type values seen, parsed (most requests send one of a few): the header parse once
# per value, not per request. Bounded: a multipart boundary differs per request, so past
# the bound a value is parsed each time.
_FORM_KINDS: dict[bytes, tuple[bytes, int] | None] = {}
_FORM_KINDS_MAX = 256


class BodyLimitMiddleware:
    """Refuses bodies over their route's limit while they stream (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_max_bytes: int,
        form: FormLimits,
        routes: Sequence[RouteLimit] = (),
    ) -> None:
        self.app = app
        self.default = RouteLimit("/", default_max_bytes)
        self.form = form
        # Longest prefix first, so a nested prefix wins over its parent.
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    def limit_for(self, path: str) -> RouteLimit:
        return next((r for r in self.routes if path.startswith(r.prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared: bytes | None = None
        content_type: bytes | None = None
        for name, value in scope.get("headers") or ():
            # The first of a repeated header, as the app reads it (Starlette's Headers.get):
            # otherwise a second Content-Type would hide the form the app then parses.
            if name == b"content-length":
                if declared is None:
                    declared = value
            elif name == b"content-type" and content_type is None:
                content_type = value
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > limit.max_bytes
        ):
            # Refused on the header alone: not one byte of the body is read.
            await _refuse(send, limit, f"the request body is larger than {limit.max_bytes} bytes")
            return
        counter = _FieldCounter.for_content_type(content_type or b"", self.form)
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            problem = None
            if received > limit.max_bytes:
                problem = f"the request body is larger than {limit.max_bytes} bytes"
            elif counter is not None:
                problem = counter.feed(chunk)
            if problem is None:
                return message
            refused = True
            if not started:
                await _refuse(send, limit, problem)
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the 413 is the answer; the handler's own is dropped
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ClientDisconnect:
            if not refused:
                raise


async def _refuse(send: Send, limit: RouteLimit, detail: str) -> None:
    media_type, body = limit.render(413, detail)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                # The rest of the body is never read, so the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
