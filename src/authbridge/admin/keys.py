"""Token signing keys: list their public facts and lifecycle, and rotate (publish a new key
that signs after `tokens.keyPublishAhead`; the old one stays published until every token
it signed has expired: `tokens.keyring`), and when the next rotation is due
(`tokens.keyRotationInterval` after the signing key started signing: a schedule the
operator keeps, shown by the console; nothing rotates by itself)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    def __init__(
        self,
        store: KeyStore,
        keyring: KeyRing,
        audit: AuditSink,
        rotation_interval: timedelta | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._audit = audit
        self.rotation_interval = rotation_interval

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

    def next_rotation_due(self, keys: Sequence[KeyView]) -> datetime | None:
        """When the signing key has signed for `rotation_interval` (None: no schedule, or no
        signing key). A key already waiting to sign (`next`) means the rotation is done: it
        is due again an interval after that key starts."""
        if self.rotation_interval is None:
            return None
        newest = [k for k in keys if k.state in ("next", "signing")]
        if not newest:
            return None
        return max(k.signs_from for k in newest) + self.rotation_interval

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
