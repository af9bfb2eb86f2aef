"""JSON logs with a request id, Prometheus metrics, and the ASGI middleware that feeds both."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "ObservabilityMiddleware", "configure_logging", "redact"]

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Field names whose value is a secret wherever it is logged. `code` alone is NOT one: it is
# the IdP's error code (RFC 6749 §4.1.2.1 `error`, or a connector's code) that operators need;
# bearer-type codes are named for what they are (`device_code`, `user_code`, `auth_code`).
SECRET_NAME = re.compile(
    r"pass|secret|token|authorization|cookie|key|assertion|verifier|credential|"
    r"(auth|authorization|device|user|setup|login)_?code$",
    re.I,
)
# The log line's own bookkeeping, never a secret. (`error`, `error_description` and `code`,
# RFC 6749 §5.2, match no secret name either: operators need them to read an IdP's refusal.)
BOOKKEEPING = frozenset({"level", "timestamp", "request_id", "logger"})
# Secrets inside free text (an URL an exception printed, a header echoed): query parameters
# that carry a credential (RFC 6749 §4.1.2 `code`, §4.2.2 tokens, `state`), Basic/Bearer
# credentials (RFC 7617, RFC 6750), and anything shaped like a compact JWS.
SECRET_TEXT = re.compile(
    r"(?P<param>[?&#](?:code|state|token|access_token|id_token|refresh_token|client_secret|"
    r"password|device_code|user_code|code_verifier|assertion|client_assertion)=)[^&#\s\"']*"
    r"|(?P<scheme>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"
    r"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    re.I,
)
REDACTED = "[redacted]"


def _scrub(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        prefix = match.group("param") or match.group("scheme") or ""
        return prefix + REDACTED

    return SECRET_TEXT.sub(replace, text)


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: no secret reaches a log line. A field named like a secret is
    replaced whole; credentials inside other text (a URL with `?code=`, a Bearer header, a
    JWT) are cut out of it, so an IdP's `error`, `error_description` and `code` stay."""
    for name, value in list(event.items()):
        if name in BOOKKEEPING:
            continue
        if name != "event" and SECRET_NAME.search(name):
            event[name] = REDACTED
        elif isinstance(value, str):
            event[name] = _scrub(value)
    return event


class _StderrLogger:
    """Writes each line to the current sys.stderr (looked up per line, not at configure time,
    so a swapped stream, as under a test runner or a supervisor, is honoured)."""

    def __init__(self, *_args: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # After format_exc_info, so a traceback's text (an httpx error quotes the URL it
            # called, query string included) is scrubbed too.
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=False,
    )


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sign_ins = Counter(
            "authbridge_sign_ins",
            "Sign-in attempts by method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "authbridge_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.housekeeping_deleted = Counter(
            "authbridge_housekeeping_deleted_rows",
            "Expired rows deleted by housekeeping, by store",
            ["store"],
            registry=self.registry,
        )


class ObservabilityMiddleware:
    """Request id in and out (X-Request-ID), an access log line and a latency sample."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("authbridge.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.request_latency.labels(scope["method"], template, str(status)).observe(
                elapsed
            )
            # The path only: query strings can carry setup tokens and authorization codes.
            self.log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
