"""Admin services over real storage (SQLite and PostgreSQL), with an audit sink that keeps
what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field

from authbridge.audit.events import AuditEvent


@dataclass
class Recorder:
    events: list[AuditEvent] = field(default_factory=list)

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]
