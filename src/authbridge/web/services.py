"""Everything a request needs, built once from the settings; storage comes up in the background.

The service starts even when the database is down: `/healthz` answers, `/readyz` and every
page that needs storage answer 503, and a background thread keeps trying until the
database answers, then runs migrations and creates what a first start creates.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from authbridge.config.model import Settings
from authbridge.directory.accounts import LocalAccounts
from authbridge.directory.bootstrap import SetupLinks
from authbridge.directory.passwords import PasswordHashing
from authbridge.directory.throttle import SignInThrottle
from authbridge.storage import Storage
from authbridge.storage.database import Database, Timeouts
from authbridge.storage.errors import Unavailable
from authbridge.storage.models import utcnow
from authbridge.tokens import KeyRing, TokenIssuer
from authbridge.tokens.issuer import issuer_for
from authbridge.tokens.keyring import keyring_for
from authbridge.web.observability import Metrics
from authbridge.web.security import CookieNames, Csrf

__all__ = ["LoginProvider", "Ready", "Services"]

log = structlog.get_logger("authbridge")
SECRET_KEY = "csrf_secret_key"
HOUSEKEEPING_INTERVAL = 300.0


@dataclass(frozen=True)
class LoginProvider:
    """One "Log in with X" button: `problem` explains why it is unavailable right now."""

    id: str
    display_name: str
    available: bool = True
    problem: str | None = None


@dataclass
class Ready:
    storage: Storage
    keyring: KeyRing
    issuer: TokenIssuer
    accounts: LocalAccounts
    throttle: SignInThrottle
    setup: SetupLinks
    csrf: Csrf


@dataclass
class Services:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    _ready: Ready | None = None
    _error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    # Callables listing login buttons; the connectors package registers one.
    provider_sources: list[Callable[[], list[LoginProvider]]] = field(default_factory=list)
    # Ids of the configured connectors; the connectors package fills it at start-up.
    connector_ids: set[str] = field(default_factory=set)
    # Whether login_providers() may wait on an IdP (a due discovery probe).
    login_providers_may_wait: bool = False

    def method_enabled(self, method: str) -> bool:
        """Whether sessions signed in with `method` may go on: a sign-in method that was
        turned off (the mock IdP once an upstream is configured, a removed IdP, local
        accounts) no longer vouches for anyone."""
        if method == "local":
            return self.settings.auth.local.enabled
        return method in self.connector_ids

    def login_providers(self) -> list[LoginProvider]:
        """The identity-provider buttons of the login page, in configured order."""
        return [provider for source in self.provider_sources for provider in source()]

    @property
    def cookies(self) -> CookieNames:
        return CookieNames(https=self.settings.server.https)

    def ready(self) -> Ready:
        """The storage-backed services, or Unavailable (answered as 503) while they are not up."""
        if self._ready is None:
            raise Unavailable(self._error or "starting")
        return self._ready

    def start(self, *, wait: bool = False) -> None:
        """Bring storage up now if possible; otherwise keep trying in a background thread."""
        if self._try_start():
            return
        if wait:
            raise Unavailable(self._error or "database unreachable")
        threading.Thread(target=self._retry, name="authbridge-storage", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._ready is not None:
            self._ready.storage.db.dispose()

    def _housekeeping(self) -> None:
        """Every few minutes: drop expired sessions and lapsed rate-limit counters."""
        while not self._stop.wait(HOUSEKEEPING_INTERVAL):
            ready = self._ready
            if ready is None:
                continue
            try:
                now = utcnow()
                window = timedelta(seconds=self.settings.auth.local.rate_limit.window)
                sessions = ready.storage.sessions.delete_expired(now)
                counters = ready.storage.rate_limits.delete_stale(now - window)
                log.info("housekeeping", expired_sessions=sessions, stale_counters=counters)
            except Exception as exc:  # the next round tries again
                log.warning("housekeeping_failed", error=type(exc).__name__)

    def _retry(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            if self._try_start():
                return
            delay = min(delay * 2, 15.0)

    def _try_start(self) -> bool:
        try:
            self._ready = self._build()
            self._error = None
            threading.Thread(
                target=self._housekeeping, name="authbridge-housekeeping", daemon=True
            ).start()
            return True
        except Exception as exc:
            self._error = f"storage unavailable: {type(exc).__name__}"
            log.error("storage_unavailable", error=type(exc).__name__, detail=str(exc)[:200])
            return False

    def _build(self) -> Ready:
        settings = self.settings
        database = settings.database
        timeouts = Timeouts(
            database.connect_timeout, database.statement_timeout, database.pool_timeout
        )
        db = Database(database.url, pool_size=database.pool_size, timeouts=timeouts)
        db.upgrade()
        storage = Storage(db)
        keyring = keyring_for(settings, storage.keys)
        keyring.ensure_key()
        issuer = issuer_for(settings, keyring)
        local = settings.auth.local
        hashing = PasswordHashing(
            local.password_hash.memory_cost,
            local.password_hash.time_cost,
            local.password_hash.parallelism,
        )
        key = settings.server.secret_key or storage.values.put_if_absent(
            SECRET_KEY, secrets.token_urlsafe(48)
        )
        setup = SetupLinks(storage)
        ready = Ready(
            storage=storage,
            keyring=keyring,
            issuer=issuer,
            accounts=LocalAccounts(storage, hashing, local, settings.authorizer),
            throttle=SignInThrottle(storage.rate_limits, local.rate_limit),
            setup=setup,
            csrf=Csrf(key.encode()),
        )
        token = setup.issue()
        if token is not None:
            link = f"{settings.server.issuer}/setup?token={token}"
            # Printed, not logged: the link is a credential and log pipelines keep lines.
            print(
                f"\n  No administrator exists yet. Create the first one here (one use):\n"
                f"  {link}\n",
                flush=True,
            )
        log.info("ready", database=db.dialect, signing_alg=keyring.current().signing.alg)
        return ready
