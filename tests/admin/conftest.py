"""The admin services over a started app's own services, recording audit events in a list
(so tests can read every event a write produced)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from authbridge.admin.service import Admin, build_admin
from authbridge.audit.events import Actor, AuditEvent
from authbridge.web.app import create_app
from authbridge.web.services import Ready
from tests.conftest import make_settings, started_clients

ACTOR = Actor("user", "u-admin", "admin@example.com")


@dataclass
class Recorded:
    events: list[AuditEvent] = field(default_factory=list)

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, kind: str) -> list[AuditEvent]:
        return [e for e in self.events if e.type == kind]


@dataclass
class AdminEnv:
    ready: Ready
    admin: Admin
    audit: Recorded


@pytest.fixture
def env(database_url: str) -> Iterator[AdminEnv]:
    with started_clients() as start:
        client = start(create_app(make_settings(database_url)))
        ready: Ready = client.app.state.services.ready()  # type: ignore[attr-defined]
        audit = Recorded()
        admin = build_admin(
            settings=ready.provider.settings,
            storage=ready.storage,
            provider=ready.provider,
            revocation=ready.revocation,
            bindings=ready.bindings,
            membership=ready.membership,
            audit=audit,
            scim_credentials=ready.scim_credentials,
            connectors=client.app.state.services.connectors,  # type: ignore[attr-defined]
            invitations=ready.invitations,
        )
        yield AdminEnv(ready, admin, audit)


# The name the users and teams tests use for the same recording sink.
Recorder = Recorded
