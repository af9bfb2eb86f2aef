"""The set of signing keys: which one signs now, which are published, and rotation.

Lifecycle of a key (all times stored, so every replica agrees):
- published from `created_at`, in the JWKS;
- signs from `signs_from`: a rotated-in key waits `tokens.keyPublishAhead` seconds first,
  so that every verifier's JWKS cache has seen it before a token it signed arrives;
- a replaced key stops signing when its successor starts (`retired_at`) and stays published
  until every token it signed has expired, then it is deleted. "Every token" is known per
  key, not guessed from the global lifetime: as a key signs, it records in storage a bound
  on the latest expiry it signed (`signed_until`: per-client and service-account lifetimes
  included, and whatever a replica with a stale snapshot signed), so every replica keeps it
  published as long. Robot tokens, long-lived and revocable, are tracked by their own rows.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.storage.keys import KeyStore
from authbridge.storage.loop_io import offloadable
from authbridge.storage.models import SigningKey
from authbridge.storage.notify import ChangeBus, Topic
from authbridge.tokens.keys import KeyMaterial, generate, load
from authbridge.tokens.sealing import KeySealer

__all__ = ["KeyRing", "PublishedKeys", "current_signer", "keyring_for"]

RELOAD_INTERVAL = timedelta(seconds=30)  # default of tokens.keyReloadInterval
# The recorded bound runs this far ahead of the latest expiry signed, so a process writes it
# at most about once per step and key (not once per token): the hot path stays a signature.
SIGNED_UNTIL_STEP = timedelta(seconds=60)


def current_signer(rows: Iterable[SigningKey], now: datetime) -> SigningKey | None:
    """The key that signs at `now`: the latest started and not yet retired (`doctor` asks
    this too)."""
    signers = [
        r for r in rows if r.signs_from <= now and (r.retired_at is None or r.retired_at > now)
    ]
    return max(signers, key=lambda r: r.signs_from) if signers else None


@dataclass(frozen=True)
class PublishedKeys:
    """A snapshot: the key that signs now, and the JWKS document as ready bytes."""

    signing: KeyMaterial
    jwks: bytes
    etag: str
    loaded_at: datetime
    valid_until: datetime


class KeyRing:
    def __init__(
        self,
        store: KeyStore,
        *,
        algorithm: str,
        publish_ahead: timedelta,
        max_token_lifetime: timedelta,
        clock: Callable[[], datetime] = utcnow,
        sealer: KeySealer | None = None,
        reload_interval: timedelta = RELOAD_INTERVAL,
        changes: ChangeBus | None = None,
    ) -> None:
        self._store = store
        self._algorithm = algorithm
        self._publish_ahead = publish_ahead
        self._max_lifetime = max_token_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: PublishedKeys | None = None
        self._parsed: dict[str, KeyMaterial] = {}
        self._sealer = sealer or KeySealer(None)
        self._reload_interval = reload_interval
        self._signed_until: dict[str, datetime] = {}
        self._changes = changes

    def ensure_key(self) -> None:
        """On first start, create the first key; it signs at once (no cache can be stale).

        Of replicas starting together on an empty database one creates it and the others
        load it (`KeyStore.add_first`): a first key of each would sign at once on its own
        replica while the others did not publish it until their next reload. With
        encryption at rest turned on, keys stored before it was are sealed now.
        """
        rows = self._store.all()
        if not rows:
            self._store.add_first(self._row(generate(self._algorithm), signs_from=self._clock()))
        elif self._sealer.enabled:
            for row in rows:
                if not self._sealer.is_sealed(row.private_pem):
                    self._store.set_private_pem(
                        row.kid, self._sealer.seal(row.private_pem, row.kid)
                    )
        self.reload()

    def rotate(self) -> SigningKey:
        """Publish a new key now; it signs after `publish_ahead`, when the current keys retire."""
        now = self._clock()
        material = generate(self._algorithm)
        starts = now + self._publish_ahead
        for key in self._store.all():
            if key.retired_at is None:
                self._store.retire(
                    key.kid, retired_at=starts, published_until=starts + self._max_lifetime
                )
        row = self._row(material, signs_from=starts)
        self._store.add(row)
        self.reload()
        if self._changes is not None:
            # Every replica publishes the new key now, not at its next periodic reload.
            self._changes.publish(Topic.KEYS)
        return row

    def invalidate(self, _payload: str = "") -> None:
        """The key set changed elsewhere (a change notification): the next `current()`
        reads it again."""
        self._snapshot = None

    def _row(self, material: KeyMaterial, *, signs_from: datetime) -> SigningKey:
        return SigningKey(
            kid=material.kid,
            alg=material.alg,
            private_pem=self._sealer.seal(material.private_pem, material.kid),
            public_jwk=material.public_jwk,
            created_at=self._clock(),
            signs_from=signs_from,
        )

    def fresh(self) -> PublishedKeys | None:
        """The snapshot in force if it needs no reload (no storage round trip): what the
        event loop may serve inline; None sends the caller to `current()` off the loop."""
        snapshot = self._snapshot
        if snapshot is None or self._clock() >= snapshot.valid_until:
            return None
        return snapshot

    def current(self) -> PublishedKeys:
        """The snapshot in force; reloaded from storage when it may have changed."""
        snapshot = self._snapshot
        if snapshot is None or self._clock() >= snapshot.valid_until:
            snapshot = self.reload()
        return snapshot

    def record_signing(self, kid: str, expires_at: datetime) -> None:
        """Before a token signed by `kid` and expiring at `expires_at` is handed out: make
        sure storage knows the key must stay published until then."""
        known = self._signed_until.get(kid)
        if known is not None and expires_at <= known:
            return
        until = expires_at + SIGNED_UNTIL_STEP
        self._store.extend_signed_until(kid, until)
        self._signed_until[kid] = max(until, known or until)

    def _still_published(self, row: SigningKey, now: datetime) -> bool:
        """Published until every token it signed has expired: those it recorded by
        `signed_until`, the rest by `published_until`, robot tokens by asking storage."""
        if row.published_until is None or row.published_until > now:
            return True
        if row.signed_until is not None and row.signed_until > now:
            return True
        issued_before = row.retired_at or row.published_until
        return self._store.long_lived_outstanding(issued_before=issued_before, now=now)

    # Whole in a grant thread for a grant on the event loop (storage/loop_io.py): the lock
    # is held across storage calls, which a second greenlet on the loop's thread would
    # wait for with the loop stopped.
    @offloadable
    def reload(self) -> PublishedKeys:
        with self._lock:
            now = self._clock()
            rows = self._store.all()
            published = [r for r in rows if self._still_published(r, now)]
            for row in rows:
                if row not in published:
                    self._store.delete(row.kid)
                    self._parsed.pop(row.kid, None)
                    self._signed_until.pop(row.kid, None)
                elif row.signed_until is not None:
                    # What other replicas recorded: no need to write a lower bound again.
                    known = self._signed_until.get(row.kid)
                    self._signed_until[row.kid] = max(row.signed_until, known or row.signed_until)
            signer = current_signer(published, now)
            if signer is None:
                raise RuntimeError("no signing key is active; run `authbridge keys rotate`")
            for row in published:
                if row.kid not in self._parsed:
                    pem = self._sealer.unseal(row.private_pem, row.kid)
                    self._parsed[row.kid] = load(pem, row.alg)
            # The snapshot lapses at the next transition (a key starts or stops signing or
            # publishing) or after the reload interval, so rotations by other replicas are seen.
            transitions = [
                t
                for r in rows
                for t in (r.signs_from, r.retired_at, r.published_until, r.signed_until)
                if t is not None and t > now
            ]
            valid_until = min([now + self._reload_interval, *transitions])
            document = {
                "keys": [
                    r.public_jwk
                    for r in sorted(published, key=lambda r: r.signs_from, reverse=True)
                ]
            }
            body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self._snapshot = PublishedKeys(
                signing=self._parsed[signer.kid],
                jwks=body,
                etag=etag,
                loaded_at=now,
                valid_until=valid_until,
            )
            return self._snapshot


def keyring_for(settings: Settings, store: KeyStore, changes: ChangeBus | None = None) -> KeyRing:
    """The key ring the settings describe (algorithm, publication lead, lifetimes, sealing);
    a rotation is published on `changes`."""
    tokens = settings.tokens
    lifetime = max(tokens.access_token_lifetime, tokens.id_token_lifetime)
    return KeyRing(
        store,
        algorithm=tokens.algorithm,
        publish_ahead=timedelta(seconds=tokens.key_publish_ahead),
        max_token_lifetime=timedelta(seconds=lifetime),
        sealer=KeySealer(tokens.key_encryption_key),
        reload_interval=timedelta(seconds=tokens.key_reload_interval),
        changes=changes,
    )
