"""The credentials each SCIM source accepts, as this process knows them: the environment's
(`SCIM_AUTH_CODE_<SOURCE>`, id `env`) and those stored (`storage/scim_credentials.py`).

The active set is cached per process, since every SCIM request needs it. A change (a
credential added or retired, on any replica or by the CLI) is published on the change bus
(`Topic.SCIM_CREDENTIALS`); every replica marks its cache stale and reloads on its next
request, so a retirement is in force everywhere at once. The reload every `reload_every`
seconds is the fallback for a missed message (the bus is best effort; SQLite has none
between processes). Retirement times and expiries are kept in the cache and compared at
each request, so a grace period ends at the same instant on every replica.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from authbridge.clock import utcnow
from authbridge.scim.auth import SOURCES, ActiveCredential, Credential, Scheme, digest_of
from authbridge.storage.notify import ChangeBus, Topic
from authbridge.storage.scim_credentials import ENV_ID, ScimCredentialRow, ScimCredentialStore

__all__ = ["ENV_ID", "Issued", "Known", "ScimCredentials"]

log = structlog.get_logger("authbridge.scim")

RELOAD_EVERY = 30.0
# last_used_at is written at most this often per credential.
TOUCH_EVERY = timedelta(minutes=1)
SECRET_BYTES = 32  # 256 bits: no guessing, so a SHA-256 digest is enough (no argon2)
BEARER_PREFIX = "abscim_"  # lets secret scanners recognise a leaked token


@dataclass(frozen=True)
class Known:
    """A credential with its state: the stored row's fields, or the environment's."""

    source: str
    id: str
    scheme: Scheme
    username: str | None
    digest: bytes | None
    created_at: datetime | None
    created_by: str | None
    expires_at: datetime | None
    retired_at: datetime | None
    last_used_at: datetime | None
    from_env: bool = False

    def active(self, now: datetime) -> bool:
        return (self.retired_at is None or self.retired_at > now) and (
            self.expires_at is None or self.expires_at > now
        )


@dataclass(frozen=True)
class Issued:
    """A new credential and its secret, shown once: Basic `username`+`password`, or a
    bearer `token`."""

    credential: Known
    password: str | None = None
    token: str | None = None


def _known(row: ScimCredentialRow) -> Known:
    return Known(
        source=row.source,
        id=row.id,
        scheme="basic" if row.kind == "basic" else "bearer",
        username=row.username,
        digest=bytes.fromhex(row.digest) if row.digest else None,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        retired_at=row.retired_at,
        last_used_at=row.last_used_at,
        from_env=row.id == ENV_ID,
    )


class ScimCredentials:
    """Every source's credentials: the cached active set for authentication, and the
    acts (`issue`, `retire`) the admin service calls."""

    def __init__(
        self,
        store: ScimCredentialStore,
        env: Mapping[str, Credential],
        changes: ChangeBus,
        *,
        clock: Callable[[], datetime] = utcnow,
        reload_every: float = RELOAD_EVERY,
    ) -> None:
        self._store = store
        self._env = {s: c for s, c in env.items() if c.secret}
        self._changes = changes
        self._clock = clock
        self._reload_every = reload_every
        self._lock = threading.Lock()
        # When the last load failed, and how (see `_load`).
        self._failed: tuple[float, Exception] | None = None
        self._snapshot: dict[str, list[Known]] | None = None
        self._loaded_at = 0.0
        self._touched: dict[tuple[str, str], datetime] = {}
        # Bumped by each invalidation: a load that raced one is not trusted past its request.
        self._generation = 0

    # -- the cache ----------------------------------------------------------------------

    def invalidate(self, _payload: str = "") -> None:
        """A change bus callback: reload at the next request (cheap, never blocks)."""
        self._generation += 1
        self._snapshot = None

    def subscribe(self) -> None:
        self._changes.subscribe(Topic.SCIM_CREDENTIALS, self.invalidate)

    def known(self, source: str) -> list[Known]:
        """Every credential of `source` (retired ones too), as last loaded."""
        snapshot = self._fresh()
        if snapshot is None:
            snapshot = self._load()
        return list(snapshot.get(source, ()))

    def _fresh(self) -> dict[str, list[Known]] | None:
        snapshot = self._snapshot
        if snapshot is None or time.monotonic() - self._loaded_at >= self._reload_every:
            return None
        return snapshot

    def _load(self) -> dict[str, list[Known]]:
        waited_from = time.monotonic()
        with self._lock:
            # Requests that waited here while another loaded take its snapshot: one query
            # per invalidation, not one per waiting request.
            ready = self._fresh()
            if ready is not None:
                return ready
            # And its failure: when the database hangs, each waiter retrying in turn would
            # make the last one wait for every statement deadline before it (serialized
            # 2 s each), instead of failing fast with the load that failed while it waited.
            failed = self._failed
            if failed is not None and failed[0] >= waited_from:
                raise failed[1]
            generation = self._generation
            try:
                rows = self._store.all()
            except Exception as exc:
                self._failed = (time.monotonic(), exc)
                raise
            snapshot: dict[str, list[Known]] = {source: [] for source in SOURCES}
            markers: dict[str, Known] = {}
            for row in rows:
                if row.source not in snapshot:
                    continue
                known = _known(row)
                if known.from_env:
                    markers[row.source] = known
                else:
                    snapshot[row.source].append(known)
            for source in SOURCES:
                env = self._env_credential(source, markers.get(source))
                if env is not None:
                    snapshot[source].insert(0, env)
            # Published while this load ran: it may predate the change, so load again next time.
            self._snapshot = snapshot if generation == self._generation else None
            self._loaded_at = time.monotonic()
            return snapshot

    def _env_credential(self, source: str, marker: Known | None) -> Known | None:
        """The environment's credential with its marker's state, when the marker is about
        this value (a new value in the environment is a new, active credential). Without a
        value here (a CLI run outside the server's environment) the marker alone is shown."""
        configured = self._env.get(source)
        if configured is None or configured.secret is None:
            return marker
        digest = digest_of(configured.secret)
        same = marker is not None and marker.digest == digest
        return Known(
            source=source,
            id=ENV_ID,
            scheme=configured.scheme,
            username=configured.secret.partition(":")[0] if configured.scheme == "basic" else None,
            digest=digest,
            created_at=None,
            created_by=None,
            expires_at=None,
            retired_at=marker.retired_at if same and marker is not None else None,
            last_used_at=marker.last_used_at if same and marker is not None else None,
            from_env=True,
        )

    def now(self) -> datetime:
        """This cache's clock: the admin service reckons grace periods with it too, so the
        instant a retirement starts and the instant it is checked come from one clock."""
        return self._clock()

    def active(self, source: str) -> list[ActiveCredential]:
        """What a request to `source` may match now."""
        now = self._clock()
        return [
            ActiveCredential(k.source, k.id, k.scheme, k.digest, k.username)
            for k in self.known(source)
            if k.digest is not None and k.active(now)
        ]

    def used(self, credential: ActiveCredential) -> None:
        """Record a successful use (at most one write a minute per credential and process;
        the store's own condition keeps replicas to about one a minute too)."""
        now = self._clock()
        key = (credential.source, credential.id)
        last = self._touched.get(key)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[key] = now
        try:
            if credential.id == ENV_ID:
                self._store.touch_env(
                    credential.source, credential.scheme, credential.digest.hex(), now
                )
            else:
                self._store.touch(credential.source, credential.id, now, TOUCH_EVERY)
            # This process lists the use at once; others at their next reload (no message:
            # a use changes nothing a request checks).
            self.invalidate()
        except Exception as exc:  # a bookkeeping write never fails a provisioning request
            log.warning("scim_credential_touch_failed", error=type(exc).__name__)

    # -- changes ------------------------------------------------------------------------

    def issue(
        self,
        source: str,
        *,
        created_by: str,
        username: str | None = None,
        expires_at: datetime | None = None,
    ) -> Issued:
        """A new credential of `source`'s kind, active at once on every replica."""
        scheme = SOURCES[source]
        credential_id = secrets.token_hex(8)
        now = self._clock()
        if scheme == "basic":
            username = username or f"{source}-{credential_id[:8]}"
            password = secrets.token_urlsafe(SECRET_BYTES)
            secret, token = f"{username}:{password}", None
        else:
            username, password = None, None
            token = BEARER_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
            secret = token
        row = ScimCredentialRow(
            source=source,
            id=credential_id,
            kind=scheme,
            username=username,
            digest=digest_of(secret).hex(),
            created_at=now,
            created_by=created_by[:255],
            expires_at=expires_at,
        )
        self._store.add(row)
        self._changed()
        return Issued(_known(row), password=password, token=token)

    def retire(self, source: str, credential_id: str, at: datetime) -> Known | None:
        """Retire a credential at `at` (now, or after a grace); None when unknown."""
        now = self._clock()
        if credential_id == ENV_ID:
            env = next((k for k in self.known(source) if k.from_env), None)
            if env is None or env.digest is None:
                return None
            self._store.mark_env(source, env.scheme, env.digest.hex(), at)
        elif self._store.retire(source, credential_id, at, now) is None:
            return None
        self._changed()
        return next((k for k in self.known(source) if k.id == credential_id), None)

    def _changed(self) -> None:
        self.invalidate()
        self._changes.publish(Topic.SCIM_CREDENTIALS)
