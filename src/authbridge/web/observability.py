"""JSON logs with a request id, Prometheus metrics, and the ASGI middleware that feeds both.

The metrics live in one registry built at start-up (never prometheus_client's global one, so
two apps in one process, as in tests, never share counters). Every label is bounded: client
and connector labels take only configured values (anything else is "other"), grant types
and SCIM sources only the ones served, outcomes only codes this service produces.

Longer than most modules: the access and audit lines (two a grant) are rendered here by
hand, field by field, and must stay beside the structlog pipeline they replay (`redact`,
the timestamp, the JSON renderer's text) so one module holds both paths that
tests/web/test_observability.py compares byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authbridge import __version__
from authbridge.audit.categories import admin_action
from authbridge.audit.events import AuditEvent
from authbridge.directory.email_links import LINKS
from authbridge.directory.invitations import invitation_path
from authbridge.scim.auth import SOURCES as SCIM_SOURCES
from authbridge.storage.database import PoolStats

__all__ = ["AccessLog", "Metrics", "ObservabilityMiddleware", "configure_logging", "redact"]

SCIM_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# RFC 9110 §9.3's methods; any other token a client sends is labelled "other", so made-up
# methods cannot grow the request histogram's series without bound.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# Upstream calls take a network round trip or several (discovery, token, JWKS, userinfo).
UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}\Z")
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
# The pages of one-time links carry their secret in the path (a reset link is the account):
# the request log and any error naming the URL keep the page, not the token.
LINK_PAGES = (
    *(path for _prefix, _lifetime, path in LINKS.values()),
    invitation_path(""),
)
SECRET_TEXT = re.compile(
    r"(?P<param>[?&#](?:code|state|token|access_token|id_token|refresh_token|client_secret|"
    r"password|device_code|user_code|code_verifier|assertion|client_assertion)=)[^&#\s\"']*"
    rf"|(?P<link>(?:{'|'.join(re.escape(p) for p in LINK_PAGES)}))[^/?&#\s\"']+"
    r"|(?P<scheme>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"
    r"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    re.I,
)
REDACTED = "[redacted]"


# Some alternative of SECRET_TEXT can match only where one of these occurs (any case).
_MAYBE_SECRET = re.compile(
    "|".join(["=", "eyj", "bearer", "basic", *(re.escape(p) for p in LINK_PAGES)]), re.I
)

# Text found clean before (an event name, an outcome, a client id: most values of most
# lines repeat): the same answer without the checks. Only clean text is kept (text that is
# logged as it is anyway, never a secret), short, and at most 4,096 of them.
_CLEAN_TEXT: set[str] = set()
_CLEAN_TEXT_MAX = 4096
_CLEAN_TEXT_LENGTH = 200


def _scrub(text: str) -> str:
    if text in _CLEAN_TEXT:
        return text
    # Every alternative of SECRET_TEXT needs "=", "eyJ", "Bearer", "Basic" or a link page
    # (any case): ASCII text with none of them is returned without running the pattern
    # (most values of a log line), after one search for them. Non-ASCII text always runs it
    # (case folding beyond ASCII).
    if text.isascii() and _MAYBE_SECRET.search(text) is None:
        if len(text) <= _CLEAN_TEXT_LENGTH and len(_CLEAN_TEXT) < _CLEAN_TEXT_MAX:
            _CLEAN_TEXT.add(text)
        return text

    def replace(match: re.Match[str]) -> str:
        prefix = match.group("param") or match.group("scheme") or match.group("link") or ""
        return prefix + REDACTED

    return SECRET_TEXT.sub(replace, text)


_SECRET_NAMES: dict[str, bool] = {}


def _secret_name(name: str) -> bool:
    """SECRET_NAME.search, remembered per field name (log field names are the code's own;
    the memo stops growing at 4,096 names, so odd ones are judged each time)."""
    known = _SECRET_NAMES.get(name)
    if known is None:
        known = SECRET_NAME.search(name) is not None
        if len(_SECRET_NAMES) < 4096:
            _SECRET_NAMES[name] = known
    return known


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: no secret reaches a log line. A field named like a secret is
    replaced whole; credentials inside other text (a URL with `?code=`, a Bearer header, a
    JWT) are cut out of it, so an IdP's `error`, `error_description` and `code` stay."""
    for name, value in list(event.items()):
        if name in BOOKKEEPING:
            continue
        if name != "event" and _secret_name(name):
            event[name] = REDACTED
        else:
            event[name] = _clean(value)
    return event


def _clean(value: Any, depth: int = 0) -> Any:
    """`redact` inside structured values (an audit event's `details`, `actor`): the same
    rules, by name and in text, at every level, keys included. A container deeper than the
    bound is replaced whole (unchecked text is never written); a value the JSON renderer
    would print by its fallback (a set, bytes, a datetime: `__structlog__()` or `repr()`) is
    that text, scrubbed, so the line reads as before but for the secrets."""
    if isinstance(value, str):
        return _scrub(value)
    if value is None or isinstance(value, int | float):  # bool is an int
        return value
    if depth > 8:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            (_scrub(k) if isinstance(k, str) else k): (
                REDACTED if isinstance(k, str) and _secret_name(k) else _clean(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    render = getattr(value, "__structlog__", None)
    return _scrub(render() if callable(render) else repr(value))


def _write_line(message: str) -> None:
    # The current sys.stderr, looked up per line, not at configure time, so a swapped
    # stream (a test runner, a supervisor) is honoured. One write of the line and its
    # newline, then a flush: what print(..., flush=True) writes, in one call instead of two
    # (two lines a grant). No stream (pythonw): print's own handling.
    stream = sys.stderr
    if stream is None:
        print(message, file=stream, flush=True)
        return
    stream.write(message + "\n")
    stream.flush()


class _StderrLogger:
    """structlog's output: each rendered line to the current sys.stderr."""

    def __init__(self, *_args: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        _write_line(message)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


@dataclass(frozen=True)
class _Installed:
    """What `configure_logging` installed: its processor list and renderer (whether they are
    still the ones in force: structlog's `capture_logs` swaps the list's contents in place)
    and whether it writes info lines as JSON."""

    processors: list[Any]
    renderer: Any
    json_info: bool

    def in_force(self) -> bool:
        processors = self.processors
        # structlog's own config object when it has one (read only; get_config() builds a
        # dict of every setting per call, twice a grant), else the public call.
        current = (
            _STRUCTLOG_CONFIG.default_processors
            if _STRUCTLOG_CONFIG is not None
            else structlog.get_config()["processors"]
        )
        return (
            current is processors
            and len(processors) == _PIPELINE_LENGTH
            and processors[-1] is self.renderer
        )


# structlog's configuration (private, read only): see `_Installed.in_force`.
_STRUCTLOG_CONFIG: Any = getattr(getattr(structlog, "_config", None), "_CONFIG", None)
if not hasattr(_STRUCTLOG_CONFIG, "default_processors"):
    _STRUCTLOG_CONFIG = None


_installed: _Installed | None = None
_PIPELINE_LENGTH = 6


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    global _installed
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # After format_exc_info, so a traceback's text (an httpx error quotes the URL it
        # called, query string included) is scrubbed too.
        structlog.processors.format_exc_info,
        redact,
        renderer,
    ]
    number = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=False,
    )
    _installed = _Installed(processors, renderer, fmt == "json" and number <= logging.INFO)


# structlog.contextvars' variables, one per key ever bound (private to structlog, read
# only): while the request id is the only one, it is all `merge_contextvars` can add. The
# public get_contextvars() copies the whole context (every asyncio/anyio variable) per call.
# A structlog without it leaves the fast path off (an empty map never has length 1).
_BOUND: Mapping[str, Any] = getattr(structlog.contextvars, "_CONTEXT_VARS", {})
_REQUEST_ID_VAR = "structlog_request_id"
_encode = json.encoder.encode_basestring_ascii  # json.dumps' own, for ensure_ascii=True
# JSONRenderer's serializer with its defaults (separators, ensure_ascii) but no `default=`.
_dumps = json.JSONEncoder().encode


_NOT_REPLAYABLE = object()

# The last second stamped and its text, "YYYY-MM-DDTHH:MM:SS" (UTC): one tuple, replaced
# whole, so a thread never reads one second's number with another's text.
_second: tuple[int, str] = (-1, "")


def _stamp(now_ns: int) -> str:
    """TimeStamper(fmt="iso", utc=True)'s text for the instant `now_ns` (time.time_ns(),
    the clock datetime.now reads, truncated to microseconds as it does): `isoformat()` of
    an aware UTC datetime with "+00:00" as "Z", and no fraction when the microseconds are
    0, as isoformat writes it. The date and time of day are formatted once per second
    (datetime.now(tz=UTC).isoformat() cost a sixth of the access line's instructions;
    two lines a grant). tests/web/test_observability.py checks it against isoformat."""
    global _second
    seconds, nanoseconds = divmod(now_ns, 1_000_000_000)
    cached = _second
    if cached[0] != seconds:
        cached = (seconds, datetime.fromtimestamp(seconds, tz=UTC).isoformat()[:19])
        _second = cached
    micro = nanoseconds // 1000
    if micro:
        return f"{cached[1]}.{micro:06d}Z"
    return f"{cached[1]}Z"


def _replayable_request_id() -> Any:
    """The bound request id when the pipeline `configure_logging` installed is in force with
    JSON at info and nothing else is bound, so a line can be rendered here by its steps;
    Ellipsis when no request id is bound either; `_NOT_REPLAYABLE` otherwise."""
    installed = _installed
    if installed is None or not installed.json_info or not installed.in_force():
        return _NOT_REPLAYABLE
    request_id: Any = Ellipsis
    for name, var in _BOUND.items():
        value = var.get()
        if value is Ellipsis:
            continue  # bound once, cleared since: merge_contextvars skips it too
        if name != _REQUEST_ID_VAR:
            return _NOT_REPLAYABLE
        request_id = value
    return request_id


def info_line(event: str, fields: Mapping[str, Any]) -> bool:
    """One info line as the installed pipeline renders it, without structlog's per-call
    machinery (its bound logger, and `merge_contextvars`, which copies the whole context:
    every asyncio and anyio variable too). The pipeline's own steps in its order: the
    fields, `event`, the bound request id, `level`, `timestamp`, `redact`, then its own JSON
    renderer, so the text is the same (tests/web/test_observability.py compares them).
    False when that pipeline cannot be replayed here: the caller logs through structlog.
    The audit log's line (audit/log.py) is on every grant."""
    request_id = _replayable_request_id()
    installed = _installed
    if request_id is _NOT_REPLAYABLE or installed is None:
        return False
    stamp = _stamp(time.time_ns())
    if type(event) is str and (request_id is Ellipsis or type(request_id) is str):
        try:
            parts = _field_texts(fields)
        except (TypeError, ValueError):
            parts = None  # the general path below renders it, or fails as structlog does
        if parts is not None:
            parts.append('"event": ' + _encode(_scrub(event)))
            if request_id is not Ellipsis:
                parts.append('"request_id": ' + _encode(request_id))
            parts.append(f'"level": "info", "timestamp": "{stamp}"')
            _write_line("{" + ", ".join(parts) + "}")
            return True
    line = dict(fields)
    line["event"] = event
    if request_id is not Ellipsis:
        line.setdefault("request_id", request_id)
    line["level"] = "info"
    line["timestamp"] = stamp
    redacted = redact(None, "info", line)
    try:
        # After `redact` every value is JSON's own (str, number, None, dict, list: `_clean`
        # turns anything else into text), so JSONRenderer's fallback handler is never
        # called and json.dumps' shared encoder writes the same text, without the encoder
        # JSONRenderer builds per call (its `default=`). Anything it refuses: the renderer.
        text = _dumps(redacted)
    except (TypeError, ValueError):
        text = installed.renderer(None, "info", redacted)
    _write_line(text)
    return True


# Names the line itself sets (or `redact` passes through): a caller's field of that name
# takes the general path, which places and treats it as structlog does.
_LINE_NAMES = frozenset({"event", *BOOKKEEPING})
# Per field name: its JSON key with the separator, and whether `redact` replaces its value
# whole (a secret's name). Names are the code's own; the memo stops at 4,096.
_FIELD_KEYS: dict[str, tuple[str, bool]] = {}
_REDACTED_JSON = _encode(REDACTED)
# Per (field name, text) a log line repeats (an outcome, a client id, an address): its whole
# `"name": "text"` as written above. Only text `_scrub` leaves as it is, short, at most
# 4,096 pairs (text a secret's name replaces is "[redacted]" whatever it was).
_FIELD_TEXTS: dict[tuple[str, str], str] = {}


def _field_texts(fields: Mapping[str, Any]) -> list[str] | None:
    """`redact` and the JSON renderer's text for the caller's fields, one `"name": value`
    per field in order, or None when a field needs the general path (a name the line sets,
    a name that is not a str). Text and integers are written as json.dumps writes them;
    anything else (a float, a container, an object) by json.dumps of `_clean`'s value."""
    parts: list[str] = []
    for name, value in fields.items():
        if type(value) is str:
            done = _FIELD_TEXTS.get((name, value))
            if done is not None:
                parts.append(done)
                continue
        known = _FIELD_KEYS.get(name)
        if known is None:
            if type(name) is not str or name in _LINE_NAMES:
                return None
            known = (_encode(name) + ": ", _secret_name(name))
            if len(_FIELD_KEYS) < 4096:
                _FIELD_KEYS[name] = known
        key, secret = known
        if secret:
            parts.append(key + _REDACTED_JSON)
        elif type(value) is str:
            clean = _scrub(value)
            done = key + _encode(clean)
            if clean == value and len(value) <= _CLEAN_TEXT_LENGTH and len(_FIELD_TEXTS) < 4096:
                _FIELD_TEXTS[(name, value)] = done
            parts.append(done)
        else:
            parts.append(key + _clean_json(value, 0))
    return parts


def _clean_json(value: Any, depth: int) -> str:
    """json.dumps(_clean(value, depth)), written here for what a log line mostly holds
    (text, integers, None, booleans, plain dicts with text keys, lists, tuples: json.dumps
    sets up an encoder per call, more than a small value's text costs); anything else
    (a float, another type, a dict whose keys are not text or collide once scrubbed), and
    a container past `_clean`'s depth, by json.dumps of `_clean`'s value."""
    kind = type(value)
    if kind is str:
        return _encode(_scrub(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if depth <= 8:
        if kind is dict:
            items: list[str] = []
            for name, item in value.items():
                # A key scrubbing changes may become another key's twin (the dict `_clean`
                # builds keeps one): json.dumps of that dict. Distinct keys it leaves alone
                # stay distinct.
                if type(name) is not str or _scrub(name) != name:
                    return _dumps(_clean(value, depth))
                items.append(
                    _encode(name)
                    + ": "
                    + (_REDACTED_JSON if _secret_name(name) else _clean_json(item, depth + 1))
                )
            return "{" + ", ".join(items) + "}"
        if kind is list or kind is tuple:
            return "[" + ", ".join([_clean_json(item, depth + 1) for item in value]) + "]"
    return _dumps(_clean(value, depth))


class AccessLog:
    """The access-log line of a request: `request` with method, path, route, status and
    duration_ms, the request id, level and timestamp, redacted, as the structlog pipeline
    `configure_logging` installs renders it.

    One per request, so while that pipeline is in force (JSON, info enabled) and the request
    id is the only context bound, the line is rendered here from the same steps, field by
    field (the same text: tests/web/test_observability.py renders both and compares), for a
    fraction of the processor chain's cost. Any other configuration (console format, a test's
    `capture_logs`, another context field bound) goes through structlog itself."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("authbridge.access")
        # Route templates are the code's own (a bounded set): each is scrubbed and encoded
        # once. Known methods hold nothing to scrub.
        self._routes: dict[str, str] = {}
        self._methods = {m: _encode(m) for m in HTTP_METHODS}

    def write(self, method: str, path: str, route: str, status: int, duration_ms: float) -> None:
        request_id = _replayable_request_id()
        if isinstance(request_id, str):
            self._render(request_id, method, path, route, status, duration_ms)
            return
        self._log.info(
            "request",
            method=method,
            path=path,
            route=route,
            status=status,
            duration_ms=duration_ms,
        )

    def _render(
        self, request_id: str, method: str, path: str, route: str, status: int, duration_ms: float
    ) -> None:
        """The pipeline's steps for this event: the call's fields, `event`, the bound request
        id (merge_contextvars), `level` (add_log_level), `timestamp` (TimeStamper, ISO, UTC),
        each value through `_scrub` (redact; no field name here is a secret's), json.dumps'
        encodings and separators (JSONRenderer)."""
        stamp = _stamp(time.time_ns())
        method_json = self._methods.get(method) or _encode(_scrub(method))
        route_json = self._routes.get(route)
        if route_json is None:
            route_json = _encode(_scrub(route))
            if len(self._routes) < 4096:
                self._routes[route] = route_json
        _write_line(
            f'{{"method": {method_json}, "path": {_encode(_scrub(path))}, '
            f'"route": {route_json}, "status": {int(status)}, '
            f'"duration_ms": {float(duration_ms)!r}, "event": "request", '
            f'"request_id": {_encode(request_id)}, '
            f'"level": "info", "timestamp": "{stamp}"}}'
        )


def scim_outcome(status: int) -> str:
    """A SCIM answer's outcome label, from its status (RFC 7644 §3.12)."""
    if status < 400:
        return "success"
    return {401: "unauthorized", 429: "throttled", 503: "unavailable"}.get(
        status, "error" if status >= 500 else "rejected"
    )


class _PoolCollector(Collector):
    """The database pool's gauges, read at scrape time through a callback (storage computes
    them: web/ does not import SQLAlchemy); nothing while storage is not up."""

    def __init__(self, stats: Callable[[], PoolStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        if stats is None:
            return
        for name, doc, value in (
            ("in_use", "Database connections checked out now", stats.in_use),
            ("idle", "Database connections idle in the pool", stats.idle),
            ("waiting", "Threads waiting for a database connection", stats.waiting),
            ("max", "Most database connections the pool opens", stats.capacity),
        ):
            yield GaugeMetricFamily(f"authbridge_db_pool_{name}", doc, value=value)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app), with the
    process, platform and garbage-collector collectors registered on it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._clients: frozenset[str] = frozenset()
        self._grant_children: dict[tuple[str, str, str], Any] = {}
        self._connectors: frozenset[str] = frozenset()
        self.build_info = Gauge(
            "authbridge_build_info",
            "The running authbridge: version and Python (always 1)",
            ["version", "python"],
            registry=self.registry,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.grants = Counter(
            "authbridge_grants",
            "Token endpoint requests by grant type, client and outcome (success or the "
            "RFC 6749 error code)",
            ["grant_type", "client", "outcome"],
            registry=self.registry,
        )
        self.refresh_reuse = Counter(
            "authbridge_refresh_token_reuse",
            "Used refresh tokens presented again (their family revoked), by client",
            ["client"],
            registry=self.registry,
        )
        self.scim_requests = Counter(
            "authbridge_scim_requests",
            "SCIM requests by source, method and outcome",
            ["source", "method", "outcome"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "authbridge_upstream_request_duration_seconds",
            "Calls to upstream identity providers by connector (discovery, token, JWKS, ...)",
            ["connector"],
            registry=self.registry,
            buckets=UPSTREAM_BUCKETS,
        )
        self.upstream_errors = Counter(
            "authbridge_upstream_errors",
            "Failed calls to upstream identity providers by connector and error",
            ["connector", "error"],
            registry=self.registry,
        )
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
        self.admin_actions = Counter(
            "authbridge_admin_actions",
            "Administrative acts recorded in the audit log, by action and outcome",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.audit_events_dropped = Counter(
            "authbridge_audit_events_dropped",
            "Audit events logged but not stored (queue full, database failing), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.housekeeping_deleted = Counter(
            "authbridge_housekeeping_deleted_rows",
            "Expired rows deleted by housekeeping, by store",
            ["store"],
            registry=self.registry,
        )

    def label_values(self, *, clients: Iterable[str], connectors: Iterable[str]) -> None:
        """The configured clients and connectors: the only values their labels take."""
        self._clients = frozenset(clients)
        self._connectors = frozenset(connectors)

    def watch_pool(self, stats: Callable[[], PoolStats | None]) -> None:
        """Export the database pool's gauges from `stats`, read at each scrape."""
        self.registry.register(_PoolCollector(stats))

    def _client(self, client_id: str | None) -> str:
        # A client of the configuration file by its id; one registered in storage (CLI, admin
        # API, service accounts: unbounded in number) as "registered"; one that did not
        # authenticate (its client_id is whatever the caller sent) as "other".
        if client_id is None:
            return "other"
        return client_id if client_id in self._clients else "registered"

    # The provider's GrantEvents (provider/events.py) --------------------------------

    def grant(self, grant_type: str, client_id: str | None, outcome: str) -> None:
        # The counter's child per label set, bound once (every grant counts: `labels()`
        # validates and looks up under a lock each time). Bounded: grant types and
        # outcomes are the provider's own, clients are labelled by `_client`.
        key = (grant_type, self._client(client_id), outcome)
        child = self._grant_children.get(key)
        if child is None:
            child = self.grants.labels(*key)
            self._grant_children[key] = child
        child.inc()

    def refresh_reuse_detected(self, client_id: str) -> None:
        self.refresh_reuse.labels(self._client(client_id)).inc()

    # audit/log.py's AuditObserver ------------------------------------------------------

    def audit_recorded(self, event: AuditEvent) -> None:
        action = admin_action(event)
        if action is not None:
            self.admin_actions.labels(action, event.outcome).inc()

    def audit_dropped(self, reason: str, count: int) -> None:
        self.audit_events_dropped.labels(reason).inc(count)

    # connectors/http.py's UpstreamObserver --------------------------------------------

    def upstream(self, connector: str, seconds: float, error: str | None) -> None:
        label = connector if connector in self._connectors else "other"
        self.upstream_latency.labels(label).observe(seconds)
        if error is not None:
            self.upstream_errors.labels(label, error).inc()

    def scim_request(self, source: str, method: str, status: int) -> None:
        self.scim_requests.labels(
            source if source in SCIM_SOURCES else "other",
            method if method in SCIM_METHODS else "other",
            scim_outcome(status),
        ).inc()


_forks = 0  # processes forked from this one's ancestors: bumped in each child


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class _RequestIds:
    """Random request ids (128 bits, hex) cut from one `os.urandom` read of `batch` ids:
    one system call per `batch` requests instead of one per request. The ids are not
    secrets (they are echoed in X-Request-ID and every log line), only unique: a forked
    child never hands out what is left of its parent's bytes (a fork is noticed by a
    counter its child bumps, not by a getpid() system call per id). One per middleware,
    used from its event loop's thread."""

    SIZE = 16

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._buffer = b""
        self._offset = 0
        self._forks = _forks

    def next(self) -> str:
        offset = self._offset
        if offset >= len(self._buffer) or self._forks != _forks:
            self._buffer = os.urandom(self.SIZE * self._batch)
            self._forks = _forks
            offset = 0
        self._offset = offset + self.SIZE
        return self._buffer[offset : offset + self.SIZE].hex()


def _bind_request_id(request_id: str) -> None:
    """clear_contextvars() then bind_contextvars(request_id=...), as structlog does them,
    without copying the whole context to find its variables (every asyncio and anyio one):
    structlog's own variables (`_BOUND`) are cleared, then the request id's is set. A
    structlog without that registry (or before its request id variable exists): its calls."""
    var = _BOUND.get(_REQUEST_ID_VAR)
    if var is None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        return
    for other in tuple(_BOUND.values()):  # one C call: a thread may add a key meanwhile
        if other is not var and other.get() is not Ellipsis:
            other.set(Ellipsis)
    var.set(request_id)


class ObservabilityMiddleware:
    """Request id in and out (X-Request-ID), an access log line and a latency sample.
    `tag`, when given, gets each request's id (tracing puts it on the request's span).
    `headers`: more headers every response carries (web/security.py's, so one layer, one
    `send` wrapper and one rebuilt header list serve both), before X-Request-ID.

    On every request, so kept lean: the latency histogram's children are bound once per
    (method, route, status) (a bounded set: known methods, route templates, status codes),
    and the request id header is found without building a dict of the headers."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        tag: Callable[[str], None] | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tag = tag
        self.headers = tuple(headers)
        self.access = AccessLog()
        self._latency: dict[tuple[str, str, int], Any] = {}
        self._ids = _RequestIds()

    def _observe(self, method: str, template: str, status: int, elapsed: float) -> None:
        key = (method, template, status)
        child = self._latency.get(key)
        if child is None:
            child = self.metrics.request_latency.labels(method, template, str(status))
            self._latency[key] = child
        child.observe(elapsed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                given = value
                break
        # ASCII-only by the pattern; the header's bytes are latin-1 (RFC 9110 §5.5).
        request_id = given.decode("latin-1") if REQUEST_ID.match(given) else self._ids.next()
        _bind_request_id(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        if self.tag is not None:
            self.tag(request_id)
        status = 500
        started = time.perf_counter()
        added = (*self.headers, (b"x-request-id", request_id.encode()))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            self._observe(method, template, status, elapsed)
            # The path only: query strings can carry setup tokens and authorization codes.
            self.access.write(
                scope["method"], scope["path"], template, status, round(elapsed * 1000, 2)
            )
