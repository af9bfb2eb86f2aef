"""Token signing keys: list their public facts and lifecycle, and rotate (publish a new key
that signs after `tokens.keyPublishAhead`; the old one stays published until every token
it signed has expired: `tokens.keyring`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.clock import utcnow
from authbridge.storage.keys import KeyStore
from authbridge.storage.models import SigningKey
from authbridge.tokens.keyring import KeyRing, current_signer

__all__ = ["KeyAdmin", "KeyState", "KeyView"]

KeyState = Literal["next", "signing", "retired"]


@dataclass(frozen=True)
class KeyView:
    """A key's public facts: never its private part."""

    kid: str
    alg: str
    created: datetime
    signs_from: datetime
    state: KeyState
    published_until: datetime | None


def _state(row: SigningKey, signer: SigningKey | None, now: datetime) -> KeyState:
    if signer is not None and row.kid == signer.kid:
        return "signing"
    return "next" if row.signs_from > now else "retired"


class KeyAdmin:
    def __init__(self, store: KeyStore, keyring: KeyRing, audit: AuditSink) -> None:
        self._store = store
        self._keyring = keyring
        self._audit = audit

    def list(self, now: datetime | None = None) -> list[KeyView]:
        """Every stored key, the newest first."""
        now = now or utcnow()
        rows = self._store.all()
        signer = current_signer(rows, now)
        return [
            KeyView(
                kid=row.kid,
                alg=row.alg,
                created=row.created_at,
                signs_from=row.signs_from,
                state=_state(row, signer, now),
                published_until=row.published_until,
            )
            for row in sorted(rows, key=lambda r: r.signs_from, reverse=True)
        ]

    def rotate(self, actor: Actor) -> KeyView:
        """Publish a new key now; it signs after tokens.keyPublishAhead."""
        self._keyring.ensure_key()
        row = self._keyring.rotate()
        self._audit.record(
            AuditEvent(
                type="key.rotated",
                actor=actor,
                target=Target("key", row.kid),
                details={"after": {"alg": row.alg, "signsFrom": row.signs_from.isoformat()}},
            )
        )
        return next(view for view in self.list() if view.kid == row.kid)
