"""What is known of each connector's health, without asking its IdP: the last outcome of
its calls (told by `OutboundHttp`'s observer) and what its discovery cache remembers of a
failure (`DiscoveryCache.problem`, kept for `retry_after` and until a fetch succeeds).

Reading a status never probes (an admin listing must not wait on, or hammer, an IdP): a
connector nobody has used since the start is `unknown`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from authbridge.clock import utcnow
from authbridge.connectors.http import UpstreamObserver

__all__ = ["ConnectorStatus", "Health", "UpstreamRecorder", "status_of"]

Health = Literal["ok", "failing", "unknown"]
# Observer errors that mean the IdP itself is failing; a 4xx is usually the caller's
# request (a used or stale code) and the connector turns the ones that matter into a
# reported problem (`DiscoveryCache.report`).
# `tls` and `ldap_error` come from LDAP directories (connectors/ldap_directory.py).
FAILING = frozenset({"timeout", "unreachable", "http_5xx", "too_large", "tls", "ldap_error"})


@dataclass(frozen=True)
class Observation:
    at: datetime
    error: str | None


@dataclass(frozen=True)
class ConnectorStatus:
    status: Health
    checked_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    # The failure's operator hint (internal URLs, proxy advice): for the console and the
    # logs, never for the login page's end users.
    detail: str | None = None


class UpstreamRecorder:
    """An `UpstreamObserver` that remembers each connector's last call and last failure,
    passing every call on to `then` (the metrics)."""

    def __init__(self, then: UpstreamObserver | None = None) -> None:
        self._then = then
        self._lock = threading.Lock()
        self._last: dict[str, Observation] = {}
        self._last_failure: dict[str, Observation] = {}

    def __call__(self, connector: str, seconds: float, error: str | None) -> None:
        seen = Observation(utcnow(), error)
        with self._lock:
            self._last[connector] = seen
            if error in FAILING:
                self._last_failure[connector] = seen
        if self._then is not None:
            self._then(connector, seconds, error)

    def last(self, connector: str) -> tuple[Observation | None, Observation | None]:
        """The last call, and the last failing one."""
        with self._lock:
            return self._last.get(connector), self._last_failure.get(connector)


def status_of(connector: Any, recorder: UpstreamRecorder | None) -> ConnectorStatus:
    """`failing` when the connector is misconfigured or its discovery cache holds a
    failure, or its last call failed; `ok` when its last call succeeded (or it needs no
    network: the mock IdP); `unknown` when nothing has been tried yet."""
    last, failure = recorder.last(connector.id) if recorder is not None else (None, None)
    failed_at = failure.at if failure is not None else None
    failed_kind = failure.error if failure is not None else None
    config_error = getattr(connector, "config_error", None)
    if config_error is not None:
        return ConnectorStatus(
            "failing",
            None,
            getattr(config_error, "code", "misconfigured"),
            detail=getattr(config_error, "hint", None),
        )
    discovery = getattr(connector, "discovery", None)
    problem = getattr(discovery, "problem", None)
    if problem is not None:
        at = getattr(discovery, "problem_at", None) or failed_at
        code = getattr(problem, "code", "idp_unavailable")
        return ConnectorStatus("failing", at, code, at, getattr(problem, "hint", None))
    if last is not None:
        health: Health = "failing" if last.error in FAILING else "ok"
        return ConnectorStatus(health, last.at, failed_kind, failed_at)
    if getattr(connector, "type_name", None) == "mock":
        return ConnectorStatus("ok")
    return ConnectorStatus("unknown")
