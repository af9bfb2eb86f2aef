"""What the token endpoint tells the metrics and the audit log (RFC 6749 §5; RFC 9700
§4.14.2 reuse; RFC 7009 revocation; RFC 7662 introspection).

The provider knows which client authenticated and how a request ended; the web layer owns
the Prometheus registry and the app its audit log. `GrantEvents` is the one seam the
provider calls; `AuditedEvents` (wired by `web/services.py`) passes each call on to the
counters (`web/observability.Metrics`, a `GrantCounters`) and records it as an audit event,
so the provider imports neither a metrics library nor knows how events are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target, frozen_details
from authbridge.provider.clients import DEVICE_GRANT

__all__ = [
    "GRANT_TYPES",
    "AuditedEvents",
    "GrantCounters",
    "GrantEvents",
    "NoEvents",
    "grant_label",
]

# The grant types the token endpoint serves; any other value a caller sends is "other", so
# a label never carries what a client made up.
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT})


# How many (client, address) pairs `AuditedEvents` keeps the actor and target of.
_PARTIES_MAX = 4096


def grant_label(grant_type: str | None) -> str:
    return grant_type if grant_type in GRANT_TYPES else "other"


class GrantCounters(Protocol):
    """The metrics' side (web/observability.Metrics)."""

    def grant(self, grant_type: str, client_id: str | None, outcome: str) -> None:
        """A token request ended: `outcome` is "success" or the RFC 6749 §5.2 error code
        (or "server_error"); `client_id` is None when no client authenticated."""

    def refresh_reuse_detected(self, client_id: str) -> None:
        """A used refresh token came back and its family was revoked (RFC 9700 §4.14.2)."""


class GrantEvents(GrantCounters, Protocol):
    """What the provider calls: the counters' events, with what the audit log keeps."""

    def grant(
        self, grant_type: str, client_id: str | None, outcome: str, *, address: str | None = None
    ) -> None: ...

    def refresh_reuse_detected(
        self, client_id: str, *, user_id: str | None = None, family_id: str | None = None
    ) -> None: ...

    def token_revoked(self, client_id: str, kind: str, *, address: str | None = None) -> None:
        """RFC 7009 §2.1: `kind` "refresh_token" (its family), "access_token" or "unknown"
        (not this client's or not ours: nothing revoked, still 200)."""

    def introspected_inactive(self, client_id: str, *, address: str | None = None) -> None:
        """RFC 7662 §2.2: a token introspected was not active."""


class NoEvents:
    """Events nobody listens to (the CLI, tests that do not count)."""

    def grant(
        self, grant_type: str, client_id: str | None, outcome: str, *, address: str | None = None
    ) -> None:
        return None

    def refresh_reuse_detected(
        self, client_id: str, *, user_id: str | None = None, family_id: str | None = None
    ) -> None:
        return None

    def token_revoked(self, client_id: str, kind: str, *, address: str | None = None) -> None:
        return None

    def introspected_inactive(self, client_id: str, *, address: str | None = None) -> None:
        return None


class AuditedEvents:
    """Counts each event and records it in the audit log (`token.*` events; the client that
    authenticated is the actor). Recording is a log line and a queue put (audit/log.py):
    no database round trip on the token endpoint."""

    def __init__(self, counters: GrantCounters, audit: AuditSink) -> None:
        self._counters = counters
        self._audit = audit
        # (client_id, address) -> the grant event's actor and target: immutable values,
        # built once per caller instead of per grant. Bounded: past the bound, built anew.
        self._parties: dict[tuple[str | None, str | None], tuple[Actor, Target | None]] = {}
        # (grant type, outcome) -> the grant event's details, shared by every such event
        # so the audit log stores them alike (audit/log.py). Bounded as the parties are.
        self._details: dict[tuple[str, str], Mapping[str, Any]] = {}

    def _grant_parties(
        self, client_id: str | None, address: str | None
    ) -> tuple[Actor, Target | None]:
        key = (client_id, address)
        parties = self._parties.get(key)
        if parties is None:
            target = Target("client", client_id) if client_id is not None else None
            parties = (_client(client_id, address), target)
            if len(self._parties) < _PARTIES_MAX:
                self._parties[key] = parties
        return parties

    def grant(
        self, grant_type: str, client_id: str | None, outcome: str, *, address: str | None = None
    ) -> None:
        self._counters.grant(grant_type, client_id, outcome)
        success = outcome == "success"
        details = self._details.get((grant_type, outcome))
        if details is None:
            details = frozen_details(
                {"grantType": grant_type}
                if success
                else {"grantType": grant_type, "error": outcome}
            )
            if len(self._details) < _PARTIES_MAX:
                self._details[grant_type, outcome] = details
        actor, target = self._grant_parties(client_id, address)
        self._audit.record(
            AuditEvent(
                "token.refreshed" if grant_type == "refresh_token" else "token.issued",
                actor,
                target,
                "success" if success else "failure",
                details,
            )
        )

    def refresh_reuse_detected(
        self, client_id: str, *, user_id: str | None = None, family_id: str | None = None
    ) -> None:
        self._counters.refresh_reuse_detected(client_id)
        self._audit.record(
            AuditEvent(
                "token.refresh_reuse_detected",
                Actor.SYSTEM,
                Target("refresh_family", family_id) if family_id is not None else None,
                "failure",
                {"client": client_id, "userId": user_id, "familyRevoked": True},
            )
        )

    def token_revoked(self, client_id: str, kind: str, *, address: str | None = None) -> None:
        self._audit.record(
            AuditEvent(
                "token.revoked",
                _client(client_id, address),
                Target("client", client_id),
                details={"revoked": kind},
            )
        )

    def introspected_inactive(self, client_id: str, *, address: str | None = None) -> None:
        self._audit.record(
            AuditEvent(
                "token.introspected_inactive",
                _client(client_id, address),
                Target("client", client_id),
            )
        )


def _client(client_id: str | None, address: str | None) -> Actor:
    if client_id is None:
        return Actor("anonymous", address=address)
    return Actor("client", client_id, address=address)
