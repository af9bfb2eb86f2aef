"""Audit events: who (`Actor`) did what (`AuditEvent.type`) to what (`Target`), with which
outcome and details (for an admin change: `before` and `after`).

Writers call `AuditSink.record(event)`; they never wait on how the event is stored, so the
token endpoint can record an event without a database round trip of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol

from authbridge.clock import utcnow

__all__ = [
    "Actor",
    "ActorKind",
    "AuditEvent",
    "AuditSink",
    "NullAudit",
    "Outcome",
    "Target",
    "frozen_details",
]

# "client": an OAuth client that authenticated at the token endpoint (token events).
ActorKind = Literal[
    "user", "service_account", "robot", "client", "cli", "scim", "system", "anonymous"
]
Outcome = Literal["success", "failure"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted. `id` is a user id for users, service accounts and robots, the source name
    for SCIM, the operating-system user for the CLI; `name` is the username at the time
    (kept, since the user may be renamed or deleted later)."""

    kind: ActorKind
    id: str | None = None
    name: str | None = None
    address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    SYSTEM: ClassVar[Actor]
    ANONYMOUS: ClassVar[Actor]


Actor.SYSTEM = Actor("system")
Actor.ANONYMOUS = Actor("anonymous")


@dataclass(frozen=True, slots=True)
class Target:
    """What was acted on: `type` is a resource kind (`user`, `team`, `client`, `binding`,
    `key`, `scim_credential`, `session`, `refresh_token`, ...), `id` its id."""

    type: str
    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event. `type` is dotted, subject first (`user.disabled`, `signin.succeeded`,
    `token.refresh_reuse_detected`); `details` is JSON-serializable and never holds a
    secret (a secret's digest prefix or id at most)."""

    type: str
    actor: Actor
    target: Target | None = None
    outcome: Outcome = "success"
    details: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


def frozen_details(details: Mapping[str, Any]) -> Mapping[str, Any]:
    """Details nobody can change (a read-only view of a private copy): an event that
    shares them with others (the token endpoint's, per grant type and outcome) is queued
    as it is, and stored with the events alike (audit/log.py)."""
    return MappingProxyType(dict(details))


class AuditSink(Protocol):
    """Where events go. `record` must not raise for a storage outage on a hot path: the
    implementation decides how an event that cannot be stored is kept or logged."""

    def record(self, event: AuditEvent) -> None: ...


class NullAudit:
    """Records nothing: for unit tests of code that takes a sink."""

    def record(self, event: AuditEvent) -> None:
        return None
